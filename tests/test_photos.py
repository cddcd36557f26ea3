"""The photo pipeline on labelled folders: fer-evaluate --images, finding
faces that fill a small image, and whole-image crops."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fer_toolkit.features.faces import box_iou, crop_faces, detect_faces, fit_square
from fer_toolkit.features.folders import FolderError, labelled_images, match_class
from fer_toolkit.features.io import load_arrays
from fer_toolkit.parameters import EMOTIONS

from conftest import SAMPLES, run_cli


def test_class_folders_match_the_model_names_and_common_spellings(tmp_path):
    assert [match_class(n, EMOTIONS) for n in ("angry", "ANGER", "happiness", "Surprised", "neutral", "fearful")] \
        == [0, 0, 3, 5, 6, 2]
    assert match_class("contempt", EMOTIONS) is None
    for name in ("happiness", "none", "junk"):
        (tmp_path / name).mkdir()
    (tmp_path / "happiness" / "a.png").write_bytes(b"x")
    (tmp_path / "happiness" / "notes.txt").write_text("not an image")
    with pytest.raises(FolderError, match="'junk' name no class"):
        labelled_images(str(tmp_path), EMOTIONS)
    (tmp_path / "junk").rmdir()
    assert labelled_images(str(tmp_path), EMOTIONS) == [(str(tmp_path / "happiness" / "a.png"), 3)]
    with pytest.raises(FolderError, match="no such folder"):
        labelled_images(str(tmp_path / "missing"), EMOTIONS)
    with pytest.raises(FolderError, match="no image files"):
        labelled_images(str(tmp_path / "none"), EMOTIONS)


def test_shrink_fit_keeps_the_square_inside_the_image():
    assert fit_square(-10, -10, 70, 48, 48) == (0.0, 0.0, 48)
    assert fit_square(100, 20, 30, 120, 100) == (90.0, 20.0, 30)
    gray = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    # A box whose crop (1.16 times it) runs past every side of the image: shrunk, the crop is the image itself.
    np.testing.assert_array_equal(crop_faces(gray, [(2, 4, 44, 44)], fit="shrink")[0], gray)


@pytest.fixture(scope="module")
def photo_folder(real_features, tmp_path_factory):
    """60 PrivateTest faces as 48x48 PNG files in class folders, and two face-free photos."""
    arrays = load_arrays(real_features, "PrivateTest", limit=60)
    root = tmp_path_factory.mktemp("photos") / "f48"
    for i, (face, label) in enumerate(zip(arrays["images"], arrays["labels"])):
        os.makedirs(root / EMOTIONS[label], exist_ok=True)
        cv2.imwrite(str(root / EMOTIONS[label] / f"{i:03d}.png"), face)
    (root / "none").mkdir()
    for name in ("dogs.jpg", "no-faces.jpg"):
        shutil.copy(os.path.join(SAMPLES, name), root / "none" / name)
    (root.parent / "source.txt").write_text(real_features)
    return str(root), arrays


def test_faces_that_fill_a_small_image_are_found(photo_folder):
    root, arrays = photo_folder
    found = sum(bool(detect_faces(face, "dlib+cnn")) for face in arrays["images"][:30])
    assert found >= 27  # none before: the detectors see no face under ~80 px, and few without a margin


def evaluate_images(*args):
    res = run_cli("evaluate", *args, "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


def test_evaluate_images_reports_the_photo_pipeline(photo_folder, tmp_path):
    root, arrays = photo_folder
    result = evaluate_images("--images", root, "--model", "fer2013", "--out", tmp_path / "photos", "--no-progress")
    assert result["images"] == 60 and result["no_face_images"] == 2
    assert result["false_faces"] == 0  # the dogs and the empty scene stay face-free
    assert result["found"] >= 0.9
    assert result["accuracy_all"] == pytest.approx(result["accuracy"] * result["found"], abs=1e-9)
    assert set(result["predicted"]) == set(EMOTIONS) and sum(result["predicted"].values()) == pytest.approx(1)
    assert (tmp_path / "photos" / "confusion_matrix.png").is_file()
    # Each image a face crop: the pipeline gives exactly what evaluation gives on the arrays.
    from fer_toolkit import evaluate
    from fer_toolkit.models.bundle import FER2013_MODEL

    whole = evaluate_images("--images", root, "--model", "fer2013", "--whole-image", "--out", tmp_path / "whole",
                            "--no-progress")
    assert whole["found"] == 1.0 and whole["false_faces"] == 1.0  # --whole-image trusts the user
    on_arrays = evaluate([FER2013_MODEL], real_features_of(root), "PrivateTest", out_dir=str(tmp_path / "arrays"),
                         limit=60)
    assert whole["accuracy"] == on_arrays["accuracy"] and whole["confusion"] == on_arrays["confusion"]
    # predictions.csv: every image and every face, and the two agree face by face.
    photos = read_predictions(tmp_path / "photos")
    assert len(photos) == 62 and {r["image"] for r in photos if r["label"] == "none"} == {
        os.path.join("none", "dogs.jpg"), os.path.join("none", "no-faces.jpg")}
    assert all(r["faces"] == "0" and r["predicted"] == "" for r in photos if r["label"] == "none")
    found = [r for r in photos if r["faces"] not in ("0", "")]
    assert len(found) == round(result["found"] * 60)
    assert sum(r["predicted"] == r["label"] for r in found) == round(result["accuracy_all"] * 60)
    assert all(float(r["confidence"]) == pytest.approx(max(float(r[c]) for c in EMOTIONS), abs=1e-4) for r in found)
    by_row = {int(r["row"]): r for r in read_predictions(tmp_path / "arrays")}
    assert sorted(by_row) == list(range(60))
    assert all(by_row[int(os.path.basename(r["image"])[:3])]["predicted"] == r["predicted"]
               for r in read_predictions(tmp_path / "whole") if r["label"] != "none")
    assert [by_row[i]["label"] for i in range(60)] == [EMOTIONS[t] for t in arrays["labels"]]


def read_predictions(folder):
    """The rows of an evaluation's predictions.csv, as dicts."""
    import csv

    with open(folder / "predictions.csv", newline="") as f:
        return list(csv.DictReader(f))


def real_features_of(root):
    """The converted slice a photo folder was written from (recorded beside it)."""
    with open(os.path.join(os.path.dirname(root), "source.txt")) as f:
        return f.read()


def test_evaluate_images_bad_input_is_one_line(tmp_path):
    (tmp_path / "Happy").mkdir()
    res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.evaluate", "--images", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "no image files" in res.stderr
    res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.evaluate", "--images", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "no such folder" in res.stderr


def test_face_crop_rule_leaves_portraits_to_detection():
    """A real portrait with room around the face is not a face crop: obama.jpg cut 1.4 to 2.4 face
    widths wide and resized to 256x256 gets a box on his face (IoU >= 0.7 with his box in the
    photo, mapped), and from 1.8 widths on the rule does not take it whole, as it did before its
    second look."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
    from portraits import faces_of, portrait

    from fer_toolkit.features.faces import face_crop_box, to_gray
    from fer_toolkit.models.recognizer import Recognizer, load_image

    gray = to_gray(load_image(os.path.join(SAMPLES, "obama.jpg")))
    (box,) = faces_of(gray)
    recognizer = Recognizer()
    for width in (1.4, 1.6, 1.8, 2.0, 2.4):
        image, truth = portrait(gray, box, width, 256)
        faces = recognizer.predict(image)
        assert len(faces) == 1 and box_iou(faces[0]["box"], truth) >= 0.7, (width, faces[0]["box"], truth)
        if width >= 1.8:
            assert face_crop_box(image) is None
    image, _ = portrait(gray, box, 1.8, 256)
    assert face_crop_box(image, check_side=0) is not None  # at 104 px alone it looks like a face crop


def test_face_crop_rule_takes_face_crops_whole_and_nothing_else(photo_folder):
    """A small image framed like a FER-2013 face is taken whole (the arrays' crop exactly), once
    HOG finds its one face filling it; a face elsewhere in a small image, and an image without a
    face, go through detection as before."""
    from fer_toolkit.features.faces import face_crop_box
    from fer_toolkit.models.recognizer import Recognizer

    _, arrays = photo_folder
    faces = arrays["images"][:40]
    upscaled = [cv2.resize(f, (144, 144), interpolation=cv2.INTER_CUBIC) for f in faces]
    ruled = [i for i, f in enumerate(upscaled) if face_crop_box(f)]
    assert len(ruled) >= 22  # about two in three FER-2013 faces (BENCHMARKS.md, "Photos", "Portraits")
    rule, whole = Recognizer(), Recognizer(whole_image=True)
    for i in ruled[:5]:
        got, want = rule.predict(upscaled[i]), whole.predict(upscaled[i])
        assert got[0]["probabilities"] == want[0]["probabilities"] and got[0]["landmarks"] == want[0]["landmarks"]
        assert got[0]["box"] != want[0]["box"]  # the face's own box is reported, not the image's
    plain = Recognizer(crop_rule=False)  # --no-crop-rule: the faces the photo detector finds
    assert plain.locate(upscaled[ruled[0]])[0] == [tuple(b) for b in detect_faces(upscaled[ruled[0]], "dlib+cnn")]
    assert rule.locate(upscaled[ruled[0]])[0] == [face_crop_box(upscaled[ruled[0]])]
    # The same face in a corner of a larger small image: not a face crop, found by detection.
    scene = np.full((240, 240), 128, np.uint8)
    scene[10:154, 90:234] = upscaled[ruled[0]]
    assert face_crop_box(scene) is None and rule.predict(scene)
    # predict() looks for the rule beside the features (threads); predict_batch() one step after the
    # other: the same answers, for a face crop and for the image that is not one.
    for image in (upscaled[ruled[1]], scene):
        assert rule.predict(image) == rule.predict_batch([image])[0]
    # A process forked after those threads started gets threads of its own (none would run the look).
    import multiprocessing

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=lambda: queue.put(rule.predict(upscaled[ruled[1]])))
    child.start()
    try:
        assert queue.get(timeout=60) == rule.predict(upscaled[ruled[1]])
    finally:
        child.join(5)
        child.kill()
    # No face: nothing, whatever the rule.
    for name in ("dogs.jpg", "no-faces.jpg"):
        small = cv2.resize(cv2.imread(os.path.join(SAMPLES, name), cv2.IMREAD_GRAYSCALE), (192, 144))
        assert face_crop_box(small) is None


def _background():
    """A real face-free photo as a 640x480 grey scene."""
    return cv2.resize(cv2.imread(os.path.join(SAMPLES, "no-faces.jpg"), cv2.IMREAD_GRAYSCALE), (640, 480))


def _pasted_and_found(faces, background, seed, smallest):
    """Each face pasted at a random place into the background, ``smallest`` to 160 px, where
    HOG finds it: (face, scene, pasted square (x, y, side), [HOG's box])."""
    rng = np.random.default_rng(seed)
    for face in faces:
        scene, side = background.copy(), int(rng.integers(smallest, 160))
        x, y = int(rng.integers(0, 640 - side)), int(rng.integers(0, 480 - side))
        scene[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        boxes = detect_faces(scene, "dlib")[:1]
        if boxes and box_iou(boxes[0], (x, y, side, side)) >= 0.3:
            yield face, scene, (x, y, side), boxes


def test_found_faces_are_cut_again_at_fer2013s_framing(real_features):
    """Real faces pasted into a real photo and found by HOG: cut again from their landmarks, their
    crops are framed as the parameters say (side / landmark spread near VIDEO.reframe_side, where
    HOG's box alone spreads far wider), the recognizer's squares and landmarks follow the new crop,
    faces taken whole keep theirs, and a box without a face keeps its crop."""
    from fer_toolkit.features.faces import crop_squares
    from fer_toolkit.features.landmarks import centre_and_spread, landmarks_batch
    from fer_toolkit.features.spec import FeatureSpec
    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.parameters import VIDEO

    spec = FeatureSpec()
    faces = load_arrays(real_features, "PrivateTest", limit=60)["images"]
    background = _background()
    framing = {0: [], 1: [], 2: []}
    scenes = []
    for _, scene, _, boxes in _pasted_and_found(faces, background, 0, 90):
        scenes.append((scene, boxes))
        for passes in framing:  # the pasted square is a tile: without the tile look, to see the framing
            squares, crops = spec.crop_framed(scene, boxes, passes, tile=False)
            np.testing.assert_array_equal(crops, crop_squares(scene, squares, spec.image_size, spec.crop_fit))
            centre, spread = centre_and_spread(landmarks_batch(crops)[0])
            framing[passes].append(spec.image_size / spread)
    assert len(scenes) >= 30
    low, high = np.percentile(framing[2], [10, 90])  # twice: at the framing the parameters give
    assert VIDEO.reframe_side * 0.95 < low < high < VIDEO.reframe_side * 1.05, (low, high)
    spreads = [np.ptp(np.percentile(framing[n], [10, 90])) for n in (0, 1)]
    assert spreads[0] > 3 * (high - low) and spreads[0] > 1.5 * spreads[1], spreads  # HOG's framing varies more
    # reframe=0 is the box's crop exactly.
    scene, boxes = scenes[0]
    squares, crops = spec.crop_framed(scene, boxes, 0)
    assert squares == [spec.crop_square_in(boxes[0], 640, 480)]
    np.testing.assert_array_equal(crops, spec.crop(scene, boxes))
    # The recognizer crops so, and maps the landmarks from the crop it classified.
    found, plain = Recognizer().locate(scene, boxes), Recognizer(reframe=0).locate(scene, boxes)
    assert VIDEO.reframe and found[0] == plain[0] and found[1] == spec.crop_framed(scene, boxes)[0] != plain[1]
    (face,) = Recognizer().predict(scene, boxes=boxes)
    x0, y0, side = found[1][0]
    assert np.all(np.abs(np.mean(face["landmarks"], axis=0) - (x0 + side / 2, y0 + side / 2)) < side / 4)
    # Taken whole: kept; a box on no face: its crop, whatever the landmarks say.
    whole = Recognizer(whole_image=True)
    assert whole.locate(faces[0])[1] == Recognizer(whole_image=True, reframe=0).locate(faces[0])[1]
    squares, _ = spec.crop_framed(background, [(500, 20, 100, 100)], 3)
    x0, y0, side = squares[0]
    assert 1 / VIDEO.reframe_max_change <= side / spec.crop_square((500, 20, 100, 100))[2] <= VIDEO.reframe_max_change
    with pytest.raises(ValueError, match="reframe"):
        Recognizer(reframe=-1)


def test_a_face_in_a_tile_is_cut_from_inside_it(real_features):
    """Real faces pasted into a real photo are tiles: the tile look finds the pasted square's four
    edges and takes it whole (the crop is the face as stored; Recognizer(tile=False) does not); a
    wide tile cut from a real photo is found but not taken whole (its square fits inside only when
    asked); faces in real photos without a tile keep their squares."""
    from fer_toolkit.features.faces import straight_edges, tile_square
    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.parameters import VIDEO

    faces = load_arrays(real_features, "PrivateTest", limit=40)["images"]
    background = _background()
    recognizer, plain = Recognizer(), Recognizer(tile=False)
    exact = tried = 0
    for face, scene, (x, y, side), boxes in _pasted_and_found(faces, background, 1, 80):
        tried += 1
        (square,), (crop,) = recognizer.locate(scene, boxes)[1:]
        if square == (x, y, side):
            exact += 1
            assert np.abs(crop.astype(int) - face).mean() < 4  # the face as stored, resized there and back
            assert plain.locate(scene, boxes)[1][0] != square
    assert tried >= 20 and exact >= 0.8 * tried, (exact, tried)

    # A wide tile (a video call's) cut from a real photo: not a face crop, so the face's square stays
    # as it is (VIDEO.tile_fit) unless asked to fit inside it: shrunk to the tile's height, moved in.
    photo = cv2.imread(os.path.join(SAMPLES, "obama.jpg"), cv2.IMREAD_GRAYSCALE)
    fx, fy, fw, fh = 366, 136, 259, 259  # his face box in that photo
    tile = photo[fy - 20 : fy + fh + 20, fx - 150 : fx + fw + 150]  # the top of his head and his chin cut
    scene = cv2.resize(background, (1280, 720))
    scene[200 : 200 + tile.shape[0], 300 : 300 + tile.shape[1]] = tile
    square = (398.0, 148.0, 363.0)  # FER-2013's framing: past the tile's top and bottom
    assert not VIDEO.tile_fit and tile_square(scene, square) == square
    assert tile_square(scene, square, fit=True) == (430.0, 200.0, tile.shape[0])

    # Real photographs: no face in them is in a tile.
    for name in ("obama.jpg", "lin-manuel-miranda.png", "two_people.jpg"):
        gray = cv2.imread(os.path.join(SAMPLES, name), cv2.IMREAD_GRAYSCALE)
        boxes = detect_faces(gray, "dlib")
        assert boxes, name
        for square in plain.locate(gray, boxes)[1]:
            assert tile_square(gray, square) == square, name
            assert sum(score >= VIDEO.tile_share for _, score in straight_edges(gray, square)) < 4, name
        assert recognizer.locate(gray, boxes)[1] == plain.locate(gray, boxes)[1], name


def test_a_leaning_face_is_found_turned_and_mapped_back():
    """A real photo turned so that the face leans 60 degrees: the upright search finds nothing; the
    turned looks find the face, cut it upright (the same answer as the upright photo's) and map its
    box and landmarks back onto the face; folder conversion finds it the same way."""
    from fer_toolkit.features.faces import square_points, turn_image
    from fer_toolkit.features.folder_conversion import face_of_image
    from fer_toolkit.features.spec import FeatureSpec
    from fer_toolkit.models.recognizer import Recognizer

    photo = cv2.imread(os.path.join(SAMPLES, "obama.jpg"), cv2.IMREAD_GRAYSCALE)
    photo = cv2.resize(photo, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    recognizer, upright_only = Recognizer(), Recognizer(turns=())
    (upright,) = recognizer.predict(photo)
    leaning, back = turn_image(photo, 60.0)
    forward = cv2.invertAffineTransform(back)
    truth = np.asarray(upright["landmarks"]) @ forward[:, :2].T + forward[:, 2]
    assert upright_only.predict(leaning) == []

    (face,) = recognizer.predict(leaning)
    assert face["label"] == upright["label"] and face["confidence"] > 0.5
    width = upright["box"][2]
    assert np.abs(np.asarray(face["landmarks"]) - truth).mean() < 0.1 * width
    x, y, w, h = face["box"]
    assert np.hypot(x + w / 2 - truth[:, 0].mean(), y + h / 2 - truth[:, 1].mean()) < 0.3 * width
    assert recognizer.detect(leaning) == [tuple(face["box"])]

    # The crop's square is turned by the turn that found it; its points map as the turned image's do.
    boxes, (square,), crops = recognizer.locate(leaning)
    assert len(square) == 4 and min(abs(square[3] - 30), abs(square[3] + 30)) < 1e-9
    turned, back = turn_image(leaning, round(square[3]))
    corners = np.array([[0.0, 0.0], [47.0, 0.0], [0.0, 47.0]])
    side = square[2]
    forward = cv2.invertAffineTransform(back)
    centre = forward @ (square[0] + side / 2 - 0.5, square[1] + side / 2 - 0.5, 1.0)  # in the turned image
    inside = (centre - side / 2 + 0.5) + (corners + 0.5) * side / 48 - 0.5
    assert np.allclose(square_points(corners, square, 48), inside @ back[:, :2].T + back[:, 2], atol=1e-6)

    ok, data = cv2.imencode(".png", leaning)
    spec = FeatureSpec()
    crop, reason = face_of_image(data.tobytes(), spec)
    assert reason is None and np.abs(crop.astype(int) - crops[0]).mean() < 8
    assert face_of_image(data.tobytes(), spec, turns=()) == (None, "no face found")
    with pytest.raises(ValueError, match="turns must be"):
        Recognizer(turns=(30, 270))


def test_small_images_get_a_last_look_by_the_upsampled_cnn(fer_csv, monkeypatch):
    """PrivateTest face 385 (a 48x48 file) escapes HOG, the CNN and the
    mirrored and equalised looks; the CNN on the image enlarged once more finds it."""
    from fer_toolkit.features import faces
    from fer_toolkit.features.conversion import read_source, select_rows

    _, text = read_source(fer_csv)
    rows = select_rows(text, range(7), path=fer_csv)
    private = [t for t, s in zip(rows["texts"], rows["splits"]) if s == "PrivateTest"]
    face = np.array(private[385].split(), dtype=np.uint8).reshape(48, 48)
    assert faces.detect_faces(face, "dlib+cnn")
    without = dataclasses.replace(faces.VIDEO, small_retries=tuple(r for r in faces.VIDEO.small_retries
                                                                   if r != "cnn_upsample"))
    monkeypatch.setattr(faces, "VIDEO", without)
    assert not faces.detect_faces(face, "dlib+cnn")


def test_small_faces_just_under_hogs_threshold_are_confirmed_by_the_cnn(real_features, monkeypatch):
    """PublicTest face 16 pasted at 65 px into a 640x480 grass photo escapes HOG, upsampled
    too, and the CNN over the whole photo; the CNN around HOG's best near miss finds it. The
    grass alone still has no face."""
    from skimage import data

    from fer_toolkit.features import faces

    grass = cv2.resize(np.asarray(data.grass()), (640, 480))
    scene = grass.copy()
    face = load_arrays(real_features, "PublicTest", limit=17)["images"][16]
    scene[200:265, 300:365] = cv2.resize(face, (65, 65), interpolation=cv2.INTER_CUBIC)
    assert not faces._rects(scene, "dlib", 1, 1280, 0)
    found = faces.detect_faces(scene, "dlib+cnn", last_look="slow")
    assert len(found) == 1 and faces.box_iou(found[0], (300, 200, 65, 65)) > 0.5
    assert not faces.detect_faces(grass, "dlib+cnn", last_look="slow")
    by_yunet = faces.detect_faces(scene, "dlib+cnn")  # the default last look: YuNet's box, confirmed by the CNN
    assert len(by_yunet) == 1 and faces.box_iou(by_yunet[0], found[0]) > 0.8
    monkeypatch.setattr(faces, "VIDEO", dataclasses.replace(faces.VIDEO, hog_candidates=0))
    assert not faces.detect_faces(scene, "dlib+cnn", last_look="slow")


def test_blazeface_candidates_are_checked_by_the_cnn_where_hog_finds_nothing(real_features, monkeypatch, tmp_path):
    """PublicTest face 228 pasted at 68 px into gravel: neither HOG, upsampled, nor the CNN around
    HOG's near misses or over the whole photo finds it; the CNN around BlazeFace's best proposals
    does, in the photo pipeline (Recognizer), whatever --proposer says, and in fer-convert --images,
    which crops the face Recognizer crops. Those are the slower looks (``--last-look slow``): YuNet
    does not propose this face, so the default last look misses it, as it misses 0.6% of the scene
    faces (BENCHMARKS.md, "YuNet's doubtful answers"), in both."""
    from skimage import data

    from fer_toolkit.models import recognizer as module

    scene = cv2.resize(np.asarray(data.gravel()), (640, 480))
    face = load_arrays(real_features, "PublicTest", limit=229)["images"][228]
    scene[200:268, 300:368] = cv2.resize(face, (68, 68), interpolation=cv2.INTER_CUBIC)
    assert not detect_faces(scene, "dlib+cnn", last_look="slow")
    found = module.Recognizer(last_look="slow").detect(scene)
    assert len(found) == 1 and box_iou(found[0], (300, 200, 68, 68)) > 0.4
    assert not module.Recognizer().detect(scene)
    for name in ("happy", "sad"):
        os.makedirs(tmp_path / "tree" / name)
    cv2.imwrite(str(tmp_path / "tree" / "happy" / "gravel.png"), scene)
    cv2.imwrite(str(tmp_path / "tree" / "sad" / "crop.png"), face)  # a 48x48 face crop: taken whole
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "fer-convert"), "--images",
                             str(tmp_path / "tree"), "--out", str(tmp_path / "data"), "--no-progress",
                             "--last-look", "slow"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    splits = ("Training", "PublicTest", "PrivateTest")
    converted = np.concatenate([np.load(tmp_path / "data" / s / "images.npy") for s in splits])
    labels = np.concatenate([np.load(tmp_path / "data" / s / "labels.npy") for s in splits])
    classes = json.load(open(tmp_path / "data" / "manifest.json"))["classes"]
    np.testing.assert_array_equal(converted[labels == [c.lower() for c in classes].index("happy")],
                                  module.Recognizer(last_look="slow").locate(scene)[2])
    parameters = json.load(open(tmp_path / "data" / "manifest.json"))["parameters"]
    assert parameters["last_look"] == "slow" and parameters["turns"] == list(module.VIDEO.photo_turns)
    monkeypatch.setattr(module, "VIDEO", dataclasses.replace(module.VIDEO, proposer_candidates=0))
    assert not module.Recognizer(last_look="slow").detect(scene)
