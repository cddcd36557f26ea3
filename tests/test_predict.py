"""Prediction on real photos and video: the API, fer-predict, fer-video, parity
with the evaluation path, bad input, and the shipped model."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from PIL import Image

from fer_toolkit.features.faces import ImageError, crop_faces
from fer_toolkit.features.io import load_arrays
from fer_toolkit.models.bundle import BundleError, load_bundle
from fer_toolkit.models.bundle import FER2013_MODEL
from fer_toolkit.models.recognizer import Recognizer, load_image

from conftest import SAMPLES, free_port, run_cli, run_script, start_web

pytestmark = pytest.mark.skipif(not os.path.isdir(SAMPLES), reason=f"sample images not found in {SAMPLES}")
KEYS = {"box", "label", "confidence", "probabilities", "landmarks"}


def sample(name):
    return os.path.join(SAMPLES, name)


@pytest.fixture(scope="module")
def recognizer():
    """The FER-2013 model's recognizer: the tests compare it with evaluation on FER-2013's arrays."""
    return Recognizer("fer2013")


@pytest.mark.parametrize("name, n_faces", [("obama.jpg", 1), ("two_people.jpg", 2), ("lin-manuel-miranda.png", 1),
                                           ("no-faces.jpg", 0), ("dogs.jpg", 0)])
def test_faces_in_samples(recognizer, name, n_faces):
    faces = recognizer.predict(sample(name))
    assert len(faces) == n_faces
    h, w = load_image(sample(name)).shape[:2]
    for f in faces:
        assert set(f) == KEYS
        x, y, bw, bh = f["box"]
        assert 0 <= x < x + bw <= w and 0 <= y < y + bh <= h
        assert sum(f["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert f["label"] == max(f["probabilities"], key=f["probabilities"].get)
        assert len(f["landmarks"]) == 68
        eyes_y = np.mean([p[1] for p in f["landmarks"][36:48]])
        mouth_y = np.mean([p[1] for p in f["landmarks"][48:68]])
        assert y <= eyes_y < mouth_y <= y + bh * 1.3  # landmarks in image pixels, on the face


def test_input_kinds_agree(recognizer):
    path = sample("lin-manuel-miranda.png")  # RGBA
    pil = Image.open(path)
    rgba = np.asarray(pil)
    bgr = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)
    gray = cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY)
    results = [recognizer.predict(path), recognizer.predict(pil), recognizer.predict(rgba, color_order="rgb"),
               recognizer.predict(bgr), recognizer.predict(gray)]
    boxes = [[f["box"] for f in r] for r in results]
    assert all(len(b) == 1 for b in boxes)
    for b in boxes[1:]:
        assert np.abs(np.subtract(b, boxes[0])).max() <= 2
    labels = {r[0]["label"] for r in results[:3]}
    assert len(labels) == 1


def test_large_image_boxes_in_original_pixels(recognizer):
    image = load_image(sample("obama.jpg"))
    big = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    small_box = recognizer.predict(image)[0]["box"]
    big_box = recognizer.predict(big)[0]["box"]
    assert max(big.shape[:2]) > 2000
    np.testing.assert_allclose(big_box, np.multiply(small_box, 3), rtol=0.1, atol=12)


def test_prediction_path_equals_evaluation_path(real_features, recognizer):
    """A FER-2013 face given to the predictor as a face box covering it gets
    exactly the features, and the probabilities, that evaluation computes."""
    bundle = recognizer.bundle
    arrays = load_arrays(real_features, "PrivateTest", ("landmarks", "hog", "hog_windows"), limit=40)
    images = arrays["images"]
    # Evaluation path: stored features, bundle standardisation and model.
    expected = bundle.predict_proba(images, bundle.spec.stack(arrays))
    # Prediction path on the same 48x48 crops.
    probs, computed = recognizer.predict_crops(images)
    for name in ("landmarks", "hog", "hog_windows"):
        if name in computed:
            np.testing.assert_array_equal(computed[name], arrays[name])
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    # And through predict() with a box whose FER-style crop is the image itself.
    from fer_toolkit.parameters import FEATURES

    side = 48 / FEATURES.crop_scale
    for i in range(3):
        upscaled = cv2.resize(images[i], (480, 480), interpolation=cv2.INTER_NEAREST)
        box = [round(240 - 10 * side / 2 - 10 * FEATURES.crop_shift_x * side),
               round(240 - 10 * side / 2 - 10 * FEATURES.crop_shift_y * side), round(10 * side), round(10 * side)]
        crop = crop_faces(upscaled, [box])[0]
        assert np.abs(crop.astype(int) - images[i]).mean() < 3.0


def test_cli_json_table_outputs_and_exit_codes(tmp_path):
    res = run_cli("predict", sample("two_people.jpg"), "--json", "--output", str(tmp_path / "a.png"),
                  "--bars", str(tmp_path / "b.png"))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out[0]["file"].endswith("two_people.jpg") and len(out[0]["faces"]) == 2
    assert set(out[0]["faces"][0]) == KEYS
    annotated = cv2.imread(str(tmp_path / "a.png"))
    assert annotated.shape[:2] == load_image(sample("two_people.jpg")).shape[:2]
    assert cv2.imread(str(tmp_path / "b.png")) is not None
    res = run_cli("predict", sample("dogs.jpg"))
    assert res.returncode == 3 and "no face found" in res.stderr
    res = run_cli("predict")  # the shipped sample photo, offline
    assert res.returncode == 0 and "astronaut" in res.stdout, res.stderr


def test_cli_folder_with_bad_files(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("obama.jpg", "dogs.jpg"):
        shutil.copy(sample(name), folder)
    (folder / "notes.jpg").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(open(sample("obama.jpg"), "rb").read()[:4000])
    res = run_cli("predict", str(folder), "--json")
    assert res.returncode == 0, res.stderr
    by_file = {os.path.basename(r["file"]): r for r in json.loads(res.stdout)}
    assert len(by_file["obama.jpg"]["faces"]) == 1 and by_file["dogs.jpg"]["faces"] == []
    for bad in ("notes.jpg", "empty.png", "truncated.jpg"):
        assert "error" in by_file[bad]


@pytest.mark.parametrize("content", [b"", b"hello", None])
def test_cli_bad_single_file_is_one_line(tmp_path, content):
    path = tmp_path / "x.jpg"
    if content is None:
        path = tmp_path / "missing.jpg"
    else:
        path.write_bytes(content)
    res = run_script("predict", str(path))
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and res.stderr.startswith("fer-predict: error:"), res.stderr


def test_bad_model_bundle_is_one_line(tmp_path):
    corrupt = tmp_path / "corrupt"
    shutil.copytree(FER2013_MODEL, corrupt)
    (corrupt / "model.keras").write_bytes(b"garbage")
    for model in (str(tmp_path / "missing"), str(corrupt)):
        res = run_script("predict", sample("obama.jpg"), "--model", model)
        assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    with pytest.raises(BundleError):
        Recognizer(str(corrupt))


def test_shipped_models_by_name(tmp_path, monkeypatch, recognizer):
    """ferplus is the default model (no --model, Recognizer()); "shipped" still names fer2013; a
    shipped name wins over a folder of that name in the working folder, and a shipped model missing
    from the package is one line."""
    from fer_toolkit.models import bundle as bundle_module
    from fer_toolkit.models.bundle import PRETRAINED, SHIPPED_DIR, SHIPPED_MODELS, resolve_model

    assert resolve_model(None) == resolve_model("ferplus") == PRETRAINED == os.path.join(SHIPPED_DIR, "ferplus")
    assert resolve_model("shipped") == resolve_model("fer2013") == FER2013_MODEL
    assert resolve_model("runs/x") == "runs/x" and os.path.dirname(FER2013_MODEL) == SHIPPED_DIR
    photo = sample("obama.jpg")
    named = Recognizer("fer2013").predict(photo)
    assert [f["probabilities"] for f in named] == [f["probabilities"] for f in recognizer.predict(photo)]
    default = Recognizer().predict(photo)
    assert [f["probabilities"] for f in default] == [f["probabilities"] for f in Recognizer("ferplus").predict(photo)]
    res = run_cli("predict", photo, "--json")
    assert res.returncode == 0 and set(json.loads(res.stdout)[0]["faces"][0]["probabilities"]) >= {"Contempt"}
    (tmp_path / "fer2013").mkdir()  # not a bundle: the name still means the shipped model
    monkeypatch.chdir(tmp_path)
    res = run_cli("predict", photo, "--json", "--model", "fer2013")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["faces"][0]["label"] == named[0]["label"]
    ferplus = Recognizer("ferplus")
    assert ferplus.classes == ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral", "Contempt"]
    faces = ferplus.predict(photo)
    assert len(faces) == 1 and sum(faces[0]["probabilities"].values()) == pytest.approx(1, abs=1e-4)
    assert faces[0]["box"] == named[0]["box"]  # the same crop geometry: the faces of one search
    monkeypatch.setattr(bundle_module, "SHIPPED_DIR", str(tmp_path / "empty"))
    for name in SHIPPED_MODELS:
        with pytest.raises(BundleError, match=f"the shipped model '{name}' is missing"):
            Recognizer(name)


def test_load_image_errors(tmp_path):
    (tmp_path / "t.txt").write_text("text")
    for bad in (tmp_path / "t.txt", tmp_path / "nope.png", tmp_path):
        with pytest.raises(ImageError):
            load_image(bad)


def test_grey_decoding_gives_the_grey_of_the_colour_decoding(tmp_path):
    """decode_image(grey=True) skips the BGR array, with the same pixels as to_gray of it."""
    from PIL import Image

    from fer_toolkit.features.faces import to_gray
    from fer_toolkit.features.images import decode_image

    photo = cv2.imread(sample("lin-manuel-miranda.png"))  # BGR
    rgba = cv2.cvtColor(photo[:, :, :3], cv2.COLOR_BGR2BGRA)
    rgba[::7, :, 3] = 90
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    sources = [sample("obama.jpg"), open(sample("two_people.jpg"), "rb").read(), sample("lin-manuel-miranda.png"),
               str(tmp_path / "alpha.png"), Image.open(sample("obama.jpg")), Image.open(sample("obama.jpg")).convert("L"),
               photo, (photo[:, :, ::-1], "rgb"), (rgba[:, :, [2, 1, 0, 3]], "rgb"), photo[:, :, 0]]
    for source in sources:
        source, order = source if isinstance(source, tuple) else (source, "bgr")
        colour, grey = decode_image(source, order), decode_image(source, order, grey=True)
        assert grey.array.ndim == 2 and grey.scale == colour.scale and grey.size == colour.size
        np.testing.assert_array_equal(grey.array, to_gray(colour.array))


def test_video_file_headless(tmp_path):
    res = run_cli("video", "--video", sample("woman2.mp4"), "--no-display", "--output", str(tmp_path / "a.mp4"),
                  "--csv", str(tmp_path / "f.csv"), "--max-frames", "60")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(tmp_path / "f.csv")))
    assert len({r["frame"] for r in rows}) >= 40  # a face in most frames
    assert set(rows[0]) >= {"frame", "time", "face", "x", "y", "width", "height", "label", "Happy"}
    cap = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 60


def test_stream_follows_faces_as_fer_video_does(tmp_path, recognizer):
    """Recognizer.stream on woman2.mp4: a face on at least 95% of the frames, and frame for frame the
    rows fer-video writes (it runs on stream); frames given as arrays give the same faces."""
    from fer_toolkit.models.video import VideoError

    video = sample("woman2.mp4")
    stream = recognizer.stream(video)
    per_frame = [faces for faces in stream]
    assert stream.frames == len(per_frame) > 400 and stream.predictions == stream.frames
    assert 0 < stream.detections < stream.frames / 2  # faces are followed between detections
    assert np.mean([bool(f) for f in per_frame]) >= 0.95
    res = run_cli("video", "--video", video, "--no-display", "--csv", str(tmp_path / "f.csv"), "--model", "fer2013")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(tmp_path / "f.csv")))
    expected = [(i, j + 1, f["box"], f["label"]) for i, faces in enumerate(per_frame) for j, f in enumerate(faces)]
    got = [(int(r["frame"]), int(r["face"]), [int(r[k]) for k in ("x", "y", "width", "height")], r["label"])
           for r in rows]
    assert got == expected
    capture = cv2.VideoCapture(video)
    frames = [capture.read()[1] for _ in range(30)]
    with recognizer.stream(iter(frames), with_frames=True) as pairs:
        for (frame, faces), want in zip(pairs, per_frame):
            assert frame.shape == frames[0].shape and [f["box"] for f in faces] == [f["box"] for f in want]
    assert pairs.frames == 30
    sparse = recognizer.stream(video, time_between_predictions=0.5)
    repeated = [faces for faces, _ in zip(sparse, range(60))]
    assert sparse.predictions < 10 and repeated[1] is repeated[0]
    sparse.close()
    with pytest.raises(VideoError, match="no such file"):
        recognizer.stream(str(tmp_path / "missing.mp4"))


def test_video_errors_are_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    (tmp_path / "bad.mp4").write_bytes(b"not a video")

    def own_process(*args):
        return run_script(*args, env=env)

    # In this process: the command's checks; in a process of their own: a missing display, and a
    # negative camera index, once a segfault.
    cases = [(["--camera", "9", "--no-display"], "no camera", run_cli),
             (["--video", str(tmp_path / "nope.mp4"), "--no-display"], "no such file", run_cli),
             (["--video", str(tmp_path / "bad.mp4"), "--no-display"], "cannot read", run_cli),
             (["--video", sample("woman2.mp4")], "no display", own_process),
             (["--camera", "-1", "--no-display"], "camera index is 0 or more", own_process)]
    for args, message, runner in cases:
        res = runner("video", *args)
        assert res.returncode == 1 and message in res.stderr and res.stderr.count("\n") == 1, res.stderr


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")), reason="needs Xvfb and xdotool (.ci/run installs them)")
def test_video_window_quits_on_q(tmp_path):
    display = ":97"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    env = {**os.environ, "DISPLAY": display}
    try:
        time.sleep(1.0)
        proc = subprocess.Popen([sys.executable, "-m", "fer_toolkit.scripts.video", "--video",
                                 sample("woman2.mp4"), "--csv", str(tmp_path / "f.csv")], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        window = ""
        deadline = time.time() + 60
        while not window and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            window = subprocess.run(["xdotool", "search", "--name", "fer-video"], env=env, capture_output=True,
                                    text=True).stdout.split()
        assert window, "no window appeared"
        time.sleep(1.0)  # let some frames show
        subprocess.run(["xdotool", "key", "--window", window[0], "q"], env=env, check=True)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped with q" in err
        shown = int(err.split(" frames")[0].split()[-1])
        assert 0 < shown < 464  # frames were shown, and it quit before the end
    finally:
        xvfb.terminate()


def test_shipped_model_is_small_and_beats_chance(real_features):
    size = sum(os.path.getsize(os.path.join(FER2013_MODEL, f)) for f in os.listdir(FER2013_MODEL))
    assert size <= 30 * 2**20  # two networks of 12 MB averaged in one model (an ensemble bundle)
    bundle = load_bundle(FER2013_MODEL)
    arrays = load_arrays(real_features, "PrivateTest", ("landmarks", "hog", "hog_windows"), limit=400)
    probs = bundle.predict_proba(arrays["images"], bundle.spec.stack(arrays))
    assert np.mean(probs.argmax(1) == arrays["labels"]) > 0.45


def test_flip_tta_is_consistent_and_used_by_evaluation_and_prediction(real_features, recognizer, tmp_path):
    """Mirror-image probabilities of mirrored faces are the faces' own
    probabilities (the flipped features are exact), and evaluation and the
    recognizer both average the two views."""
    from fer_toolkit.features.landmarks import flip_landmarks
    from fer_toolkit.models.evaluate import evaluate

    def mirror_probabilities(bundle, images, landmarks):
        return bundle.predict_proba(*bundle.spec.mirror_inputs(images, landmarks))

    bundle = recognizer.bundle
    arrays = load_arrays(real_features, "PrivateTest", ("landmarks", "hog", "hog_windows"), limit=60)
    images, landmarks = arrays["images"], arrays["landmarks"]
    plain = bundle.predict_proba(images, bundle.spec.stack(arrays))
    mirrored = mirror_probabilities(bundle, images, landmarks)
    assert np.abs(mirrored - plain).max() > 1e-3  # a different view...
    twice = mirror_probabilities(bundle, np.ascontiguousarray(images[:, :, ::-1]), flip_landmarks(landmarks, 48))
    np.testing.assert_allclose(twice, plain, atol=1e-5)  # ...whose mirror is the original
    tta = Recognizer("fer2013", tta=True)
    probs, _ = tta.predict_crops(images)
    on_mirror = bundle.predict_proba(*_mirror_inputs(images, bundle.spec))
    np.testing.assert_allclose(probs, (plain + on_mirror) / 2, atol=1e-5)
    full = load_arrays(real_features, "PrivateTest", ("landmarks", "hog", "hog_windows"), limit=200)
    both = (bundle.predict_proba(full["images"], bundle.spec.stack(full))
            + mirror_probabilities(bundle, full["images"], full["landmarks"])) / 2
    result = evaluate([FER2013_MODEL], real_features, "PrivateTest", out_dir=str(tmp_path / "eval"), tta=True,
                      limit=200)
    assert result["tta"] and result["accuracy"] == pytest.approx(np.mean(both.argmax(1) == full["labels"]))


def test_ten_view_tta_is_the_same_in_evaluation_and_prediction(real_features, recognizer, tmp_path):
    """--tta-shift: the faces moved diagonally (pixels with a reflected border, landmarks moved
    and clipped, HOG by the conversion's function on the moved pixels) and the mirrors, ten
    views averaged alike by evaluation and by the recognizer."""
    from fer_toolkit.models.evaluate import evaluate

    bundle, spec = recognizer.bundle, recognizer.spec
    arrays = load_arrays(real_features, "PrivateTest", ("landmarks", "hog", "hog_windows"), limit=40)
    images, landmarks = arrays["images"], arrays["landmarks"]
    views = spec.tta_inputs(images, landmarks, 3)
    assert len(views) == 9 and len(spec.tta_inputs(images, landmarks, 0)) == 1
    # The fourth view (after the mirror, and the move down-right and its mirror): 3 px right and 3 px up, by hand.
    padded = np.pad(images, ((0, 0), (3, 3), (3, 3)), mode="reflect")  # NumPy's reflect is OpenCV's reflect-101
    moved = padded[:, 6:54, 0:48]
    np.testing.assert_array_equal(views[3][0], moved)
    by_hand = spec.extract(moved, landmarks=False)
    by_hand["landmarks"] = np.clip(landmarks + np.float32([3, -3]), 0, 47)
    np.testing.assert_allclose(views[3][1], spec.stack(by_hand), atol=1e-6)
    plain = bundle.predict_proba(images, spec.stack(arrays))
    expected = (plain + sum(bundle.predict_proba(*view) for view in views)) / 10
    probs, _ = Recognizer("fer2013", tta=True, tta_shift=3).predict_crops(images)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    result = evaluate([FER2013_MODEL], real_features, "PrivateTest", out_dir=str(tmp_path / "eval"), tta=True,
                      limit=40, tta_shift=3)
    assert result["tta_shift"] == 3
    assert result["accuracy"] == pytest.approx(np.mean(expected.argmax(1) == arrays["labels"]))


def _mirror_inputs(images, spec):
    """Mirror images and their features built by hand: landmarks mirrored
    point by point, HOG by the conversion's function on the flipped pixels."""
    from fer_toolkit.features.landmarks import MIRROR, landmarks_batch

    flipped = np.ascontiguousarray(images[:, :, ::-1])
    arrays = spec.extract(flipped, landmarks=False)
    lm = landmarks_batch(images)[:, MIRROR]
    lm[..., 0] = 47 - lm[..., 0]
    arrays["landmarks"] = lm
    return flipped, spec.stack(arrays)


@pytest.fixture(scope="module")
def second_model(real_features, tmp_path_factory):
    """A short real run of model A on landmarks alone: another member, with another feature set."""
    from fer_toolkit.models.config import TrainingConfig
    from fer_toolkit.models.train import train

    out = tmp_path_factory.mktemp("member") / "run"
    train(TrainingConfig(data=real_features, out=str(out), model="A", features="landmarks", epochs=1, seed=3),
          log=lambda *_: None, verbose=0)
    return str(out)


def test_ensemble_averages_its_members_everywhere(second_model, tmp_path):
    """Recognizer([...]), and --model given twice to fer-predict, fer-evaluate --images and
    fer-web, average the members' probabilities, each member computing its own features from
    the same crops; members that crop faces differently are refused in one line."""
    photo = sample("two_people.jpg")
    alone = [Recognizer(m, tta=True).predict(photo) for m in (FER2013_MODEL, second_model)]
    together = Recognizer([FER2013_MODEL, second_model], tta=True).predict(photo)
    assert len(together) == 2
    for i, face in enumerate(together):
        assert face["box"] == alone[0][i]["box"] and face["landmarks"] == alone[0][i]["landmarks"]
        for c, p in face["probabilities"].items():
            assert p == pytest.approx((alone[0][i]["probabilities"][c] + alone[1][i]["probabilities"][c]) / 2, abs=1e-5)
    assert alone[1][0]["probabilities"] != alone[0][0]["probabilities"]  # two different members
    ensemble = Recognizer([FER2013_MODEL, second_model])
    res = run_cli("predict", photo, "--json", "--model", FER2013_MODEL, "--model", second_model)
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    faces = printed[0]["faces"] if isinstance(printed, list) else printed["faces"]
    assert [f["label"] for f in faces] == [f["label"] for f in ensemble.predict(photo)]
    folder = tmp_path / "photos"
    (folder / "happy").mkdir(parents=True)
    shutil.copy(sample("obama.jpg"), folder / "happy")
    res = run_cli("evaluate", "--images", str(folder), "--json", "--no-progress", "--model", FER2013_MODEL,
                  "--model", second_model, "--out", str(tmp_path / "ensemble-photos"))
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert result["models"] == [FER2013_MODEL, second_model] and result["found"] == 1.0
    answer = ensemble.predict(sample("obama.jpg"))[0]["label"]
    assert result["predicted"][answer] == 1.0  # the ensemble's answer, as the recognizer gives it
    assert (tmp_path / "ensemble-photos" / "confusion_matrix.png").is_file()
    # fer-web --model given twice serves the ensemble, and its API answers as the recognizer does.
    import io
    import urllib.request

    from fer_toolkit.models.webapp import create_app

    port = free_port()
    server = start_web(port, "--model", FER2013_MODEL, "--model", second_model)
    try:
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read())
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert health["models"] == ["fer2013", "run"]
    client = create_app(ensemble).test_client()
    with open(photo, "rb") as f:
        served = client.post("/api/predict", data={"file": (io.BytesIO(f.read()), "x.jpg")},
                             content_type="multipart/form-data").get_json()["faces"]
    for face, expected in zip(served, ensemble.predict(photo)):
        assert face["label"] == expected["label"] and face["box"] == expected["box"]
        assert face["confidence"] == pytest.approx(expected["confidence"], abs=1e-5)
    other = tmp_path / "other-crop"
    shutil.copytree(second_model, other)
    meta = json.loads((other / "bundle.json").read_text())
    meta["feature_spec"]["crop_scale"] = 1.4
    (other / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="crops faces differently"):
        Recognizer([FER2013_MODEL, str(other)])
    res = run_cli("predict", photo, "--model", FER2013_MODEL, "--model", str(other))
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and "crop_scale" in res.stderr


def test_float16_weights_halve_a_bundle_and_keep_its_answers(real_features, tmp_path):
    """``make pretrained WEIGHTS=float16``: the shipped fer2013 exported with float16 weights is about
    half the size, loads as float32 variables holding the rounded weights, and answers real FER-2013
    faces as the float32 file does; an unknown storage is refused before anything is written."""
    from fer_toolkit.models.bundle import export_bundle
    from fer_toolkit.models.evaluate import predict_split

    half = tmp_path / "half"
    export_bundle(FER2013_MODEL, str(half), "float16")
    full_size = os.path.getsize(os.path.join(FER2013_MODEL, "model.keras"))
    assert 0.45 * full_size < os.path.getsize(half / "model.keras") < 0.55 * full_size
    original, halved = load_bundle(FER2013_MODEL), load_bundle(str(half))
    assert halved.meta == original.meta
    for mine, theirs in zip(halved.model.weights, original.model.weights, strict=True):
        assert mine.dtype == "float32"
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs).astype(np.float16).astype(np.float32))
    ours, labels = predict_split(halved, real_features, "PublicTest", limit=200)
    theirs, _ = predict_split(original, real_features, "PublicTest", limit=200)
    assert len(labels) > 50 and np.abs(ours - theirs).max() < 0.02
    assert (ours.argmax(1) == theirs.argmax(1)).mean() >= 0.99
    with pytest.raises(ValueError, match="unknown weights 'int8'"):
        export_bundle(FER2013_MODEL, str(tmp_path / "refused"), "int8")
    assert not (tmp_path / "refused").exists()


def test_ensemble_bundle_is_its_members_averaged_in_one_model(real_features, second_model, tmp_path):
    """export_ensemble (``make pretrained RUN="a b"``) writes one bundle whose model averages its
    members, each standardising the features its own way: on real FER-2013 faces and on photos
    (LiteRT's path) it answers as the run-time ensemble does; it records its members, --init
    starts from its first, and members that cannot merge are refused in one line."""
    from fer_toolkit.models.bundle import save_bundle
    from fer_toolkit.models.ensemble import export_ensemble, first_member
    from fer_toolkit.models.evaluate import predict_split

    base = tmp_path / "single"  # the shipped fer2013's first network, a bundle of its own (fer2013 is an ensemble)
    first = first_member(load_bundle(FER2013_MODEL))
    save_bundle(str(base), first.model, first.meta)
    other = tmp_path / "other"  # that network, standardising features otherwise: another member
    shutil.copytree(base, other)
    meta = json.loads((other / "bundle.json").read_text())
    norm = meta["normalization"]
    norm["mean"] = [m + 0.3 * s for m, s in zip(norm["mean"], norm["std"])]
    norm["std"] = [1.5 * s for s in norm["std"]]
    (other / "bundle.json").write_text(json.dumps(meta))
    merged = export_ensemble([str(base), str(other)], str(tmp_path / "merged"))
    assert [m["from"] for m in merged.meta["ensemble"]["members"]] == [str(base), str(other)]
    assert merged.meta["parameters"] == 2 * load_bundle(str(base)).meta["parameters"]
    members = [load_bundle(p) for p in (str(base), str(other))]
    alone = [predict_split(b, real_features, "PublicTest", limit=200)[0] for b in members]
    together, labels = predict_split(merged, real_features, "PublicTest", limit=200)
    assert len(labels) > 50 and np.abs(alone[0] - alone[1]).max() > 0.05  # the members disagree
    np.testing.assert_allclose(together, (alone[0] + alone[1]) / 2, atol=1e-5)
    photo = sample("two_people.jpg")
    for face, expected in zip(Recognizer(merged.path).predict(photo),
                              Recognizer([str(base), str(other)]).predict(photo), strict=True):
        assert face["box"] == expected["box"] and face["label"] == expected["label"]
        for c, p in face["probabilities"].items():
            assert p == pytest.approx(expected["probabilities"][c], abs=1e-4)
    # fer-train --init starts from the first member: its network, standardisation and training record.
    from fer_toolkit.models.config import TrainingConfig
    from fer_toolkit.models.finetune import fine_tune_config, start_from
    from fer_toolkit.parameters import EMOTIONS

    config = fine_tune_config(TrainingConfig(data=real_features, out=str(tmp_path / "run"), init=merged.path))
    assert config.model == "B" and config.filters_b == tuple(members[0].meta["train_args"]["filters_b"])
    logged = []
    model, start, record = start_from(config, EMOTIONS, len(members[0].standardizer.mean), log=logged.append)
    assert record["ensemble_member"] == str(base) and f"first network ({base}, of an ensemble of 2)" in logged[0]
    for mine, theirs in zip(model.get_weights(), members[0].model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(start.standardizer.std, members[0].standardizer.std)
    for runs, why in (([str(base), "ferplus"], "has classes"), ([str(base), second_model], "differently"),
                      ([str(base)], "at least two"), ([FER2013_MODEL, str(base)], "ensemble bundle already")):
        with pytest.raises(BundleError, match=why):
            export_ensemble(runs, str(tmp_path / "refused"))
    assert not (tmp_path / "refused").exists()
    meta = json.loads((tmp_path / "merged" / "bundle.json").read_text())
    meta["ensemble"] = {"members": "two"}
    (tmp_path / "merged" / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="field 'ensemble'"):
        load_bundle(merged.path)
