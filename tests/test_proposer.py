"""BlazeFace face proposals confirmed by HOG (``--proposer blazeface``), on real photos."""

import json
import multiprocessing
import os
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest

from conftest import SAMPLES, run_cli


def grey(name):
    return cv2.imread(os.path.join(SAMPLES, name), cv2.IMREAD_GRAYSCALE)


def scene_640(name="obama.jpg"):
    """A sample photo shrunk into a 640x480 grey frame (its face then about 105 pixels)."""
    image = grey(name)
    k = min(640 / image.shape[1], 480 / image.shape[0])
    small = cv2.resize(image, (round(image.shape[1] * k), round(image.shape[0] * k)), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640), 128, np.uint8)
    y0, x0 = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
    frame[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return frame


@pytest.fixture(scope="module")
def usual():
    from fer_toolkit.models.recognizer import Recognizer

    return Recognizer()


@pytest.fixture(scope="module")
def proposing():
    from fer_toolkit.models.recognizer import Recognizer

    return Recognizer(proposer="blazeface")


def test_anchors_cover_the_input_grid():
    from fer_toolkit.models.proposer import anchor_centres

    anchors = anchor_centres()
    assert anchors.shape == (48 * 48, 2)
    np.testing.assert_allclose(anchors[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(anchors[1], [1.5 / 48, 0.5 / 48])  # row-major: x varies first
    np.testing.assert_allclose(anchors[-1], [47.5 / 48, 47.5 / 48])


def test_blazeface_proposes_the_faces_hog_finds():
    from fer_toolkit.features.faces import box_iou, detect_faces
    from fer_toolkit.models.proposer import blazeface

    for name, n in (("obama.jpg", 1), ("two_people.jpg", 2)):
        image = grey(name)
        proposals = blazeface()(image, 0.5)
        hog = detect_faces(image, "dlib")
        assert len(proposals) == len(hog) == n, name
        for box in hog:  # each HOG face has a proposal on it, boxes in the image's pixels
            assert max(box_iou(box, p) for p, _ in proposals) > 0.5, (name, box, proposals)
        assert all(0.5 <= s <= 1 for _, s in proposals)
    for name in ("no-faces.jpg", "dogs.jpg"):
        assert blazeface()(grey(name), 0.5) == [], name


def test_confirmed_proposals_are_the_faces_and_the_rest_is_the_usual_path(usual, proposing):
    from fer_toolkit.features.faces import box_iou

    for image, n in ((scene_640(), 1), (grey("two_people.jpg"), 2)):
        fast, plain = proposing.predict(image), usual.predict(image)
        assert len(fast) == len(plain) == n
        for face in fast:
            assert max(box_iou(face["box"], other["box"]) for other in plain) > 0.6
        # The faces found go through the usual crop, features and classifier.
        again = usual.predict(image, boxes=[f["box"] for f in fast])
        for a, b in zip(fast, again):
            assert a["box"] == b["box"] and a["label"] == b["label"]
            np.testing.assert_allclose(list(a["probabilities"].values()), list(b["probabilities"].values()),
                                       atol=1e-6)
    for name in ("no-faces.jpg", "dogs.jpg"):  # nothing proposed or confirmed: the usual search answers
        assert proposing.predict(os.path.join(SAMPLES, name)) == usual.predict(os.path.join(SAMPLES, name))


def test_an_unconfirmed_proposal_sends_the_photo_to_the_usual_search():
    from fer_toolkit.models.proposer import blazeface, propose_faces

    image = scene_640()
    real = blazeface()
    assert len(propose_faces(image, real)) == 1
    # A second proposal on a blank corner is not confirmed by HOG: no answer, the caller searches as usual.
    assert propose_faces(image, lambda gray, s: real(gray, s) + [((0.0, 0.0, 60.0, 60.0), 0.4)]) == []
    # Proposals all under the score, or too many: the same.
    assert propose_faces(image, real, score=0.999) == []
    assert propose_faces(image, lambda gray, s: real(gray, s) * 5, max_faces=4) == []


def test_interpreters_are_per_thread_and_per_process():
    from fer_toolkit.models.proposer import blazeface

    images = [scene_640(), grey("two_people.jpg")] * 4
    expected = [blazeface()(image) for image in images]
    results = [None] * len(images)

    def work(i):
        results[i] = blazeface()(images[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected
    with multiprocessing.get_context("fork").Pool(1) as pool:  # a forked child makes its own interpreter
        assert pool.apply_async(_propose_in_child, (images[1],)).get(timeout=120) == expected[1]


def _propose_in_child(image):
    from fer_toolkit.models.proposer import blazeface

    return blazeface()(image)


def test_a_missing_or_damaged_model_file_is_one_line(tmp_path):
    from fer_toolkit.features.landmarks import MissingModelError
    from fer_toolkit.models.proposer import MODEL, BlazeFace

    with pytest.raises(MissingModelError, match="BlazeFace model is missing"):
        BlazeFace(str(tmp_path / "nothing.tflite"))
    # A damaged file is refused before LiteRT sees it (LiteRT crashes on a truncated model).
    damaged = tmp_path / "damaged.tflite"
    damaged.write_bytes(open(MODEL, "rb").read()[:5000])
    with pytest.raises(MissingModelError, match="damaged") as e:
        BlazeFace(str(damaged))
    assert "\n" not in str(e.value)


def test_cli_flag(tmp_path):
    photo = tmp_path / "scene.png"
    cv2.imwrite(str(photo), scene_640())
    res = run_cli("predict", photo, "--json", "--proposer", "blazeface")
    assert res.returncode == 0, res.stderr[-1000:]
    assert len(json.loads(res.stdout)[0]["faces"]) == 1
    for command in ("predict", "web", "evaluate"):
        res = subprocess.run([sys.executable, "-m", f"fer_toolkit.scripts.{command}", "--help"], capture_output=True,
                             text=True, timeout=60)
        assert "--proposer" in res.stdout and "blazeface" in res.stdout, command
    res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.predict", str(photo), "--proposer", "blazeface",
                          "--detector", "opencv"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stderr.count("\n") == 1
    assert "--proposer blazeface needs --detector dlib or dlib+cnn, not opencv" in res.stderr
