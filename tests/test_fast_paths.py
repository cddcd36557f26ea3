"""The fast paths of prediction give what the evaluation path gives: the
LiteRT classifier, coarse-to-fine detection, faces followed between
detections in video, and a camera reader that drops frames instead of
queueing them."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import SAMPLES

BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def recognizer():
    from fer_toolkit.models.recognizer import Recognizer

    return Recognizer("fer2013")  # compared with evaluation on FER-2013's arrays


def test_litert_classifier_equals_the_evaluation_path(real_features, recognizer, tmp_path):
    from fer_toolkit.features.io import load_arrays
    from fer_toolkit.models.evaluate import predict_split
    from fer_toolkit.models.fast import ClassifierRunner

    expected, labels = predict_split(recognizer.bundle, real_features, "PrivateTest", limit=200)[:2]
    crops = load_arrays(real_features, "PrivateTest", limit=200)["images"]
    ones = np.concatenate([recognizer.predict_crops(crops[i : i + 1])[0] for i in range(60)])
    sevens = np.concatenate([recognizer.predict_crops(crops[i : i + 7])[0] for i in range(0, 140, 7)])
    whole = recognizer.predict_crops(crops)[0]  # over litert_max_batch: Keras, in batches
    assert recognizer.classifier.backend == "litert"
    np.testing.assert_allclose(ones, expected[:60], atol=1e-4, rtol=0)
    np.testing.assert_allclose(sevens, expected[:140], atol=1e-4, rtol=0)
    np.testing.assert_allclose(whole, expected, atol=1e-4, rtol=0)
    assert np.array_equal(ones.argmax(1), expected[:60].argmax(1))

    # The converted model is cached by the model file's hash; a damaged cache file is converted again.
    runner = ClassifierRunner(recognizer.bundle, cache_dir=str(tmp_path))
    arrays = recognizer.spec.extract(crops[:3])
    features = recognizer.spec.stack({**arrays, "images": crops[:3]})
    first = runner.predict_proba(crops[:3], features)
    cached = [os.path.join(tmp_path, n) for n in os.listdir(tmp_path)]
    assert len(cached) == 1 and cached[0].endswith(".tflite")
    with open(cached[0], "wb") as f:
        f.write(b"not a flatbuffer")
    again = ClassifierRunner(recognizer.bundle, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(again.predict_proba(crops[:3], features), first)
    assert again.backend == "litert" and os.path.getsize(cached[0]) > 1_000_000
    # A truncated cache file (which LiteRT would crash on) is caught by its checksum and converted again.
    intact = open(cached[0], "rb").read()
    with open(cached[0], "wb") as f:
        f.write(intact[:5000])
    third = ClassifierRunner(recognizer.bundle, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(third.predict_proba(crops[:3], features), first)
    assert third.backend == "litert" and open(cached[0], "rb").read() == intact

    from fer_toolkit.models.recognizer import Recognizer

    assert Recognizer(fast=False).classifier.backend == "keras"


def test_video_classifier_is_8bit_and_agrees_with_float(real_features, recognizer, tmp_path):
    """The quantised classifier that video runs: the float32 model's labels on nearly every face,
    probabilities close to them, and its own cache file beside the float32 one."""
    from fer_toolkit.features.io import load_arrays
    from fer_toolkit.models.fast import ClassifierRunner

    arrays = load_arrays(real_features, "PrivateTest", limit=300)
    crops, labels = arrays["images"], arrays["labels"]
    features = recognizer.spec.stack({**recognizer.spec.extract(crops), "images": crops})
    float32 = ClassifierRunner(recognizer.bundle, cache_dir=str(tmp_path))
    q8 = ClassifierRunner(recognizer.bundle, cache_dir=str(tmp_path), quantized=True)
    expected = np.concatenate([float32.predict_proba(crops[i : i + 4], features[i : i + 4]) for i in range(0, 300, 4)])
    got = np.concatenate([q8.predict_proba(crops[i : i + 4], features[i : i + 4]) for i in range(0, 300, 4)])
    assert float32.backend == "litert" and q8.backend == "litert-q8"
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.99
    assert abs(np.mean(got.argmax(1) == labels) - np.mean(expected.argmax(1) == labels)) <= 0.01
    assert np.abs(got - expected).max() < 0.1 and not np.array_equal(got, expected)  # quantised, not the same model
    files = sorted(os.listdir(tmp_path), key=lambda name: name.endswith("-q8.tflite"))
    assert len(files) == 2 and files[1].endswith("-q8.tflite") and files[0].endswith(".tflite")
    assert os.path.getsize(tmp_path / files[1]) < os.path.getsize(tmp_path / files[0]) / 3  # 8-bit weights

    # Video takes it (made once per recognizer); photos and quantized=False keep float32.
    video = recognizer.with_detection("dlib", 480, 320, quantized=True)
    assert video.classifier.backend == "litert-q8" and recognizer.classifier.backend == "litert"
    assert recognizer.with_detection("dlib", 480, 320, quantized=True).classifier is video.classifier
    assert recognizer.with_detection("dlib", 480, 320).classifier is recognizer.classifier
    from fer_toolkit.models.recognizer import Recognizer

    assert Recognizer("fer2013", fast=False).with_detection("dlib", 480, quantized=True).classifier.backend == "keras"


def video_frames(n):
    import cv2

    capture = cv2.VideoCapture(os.path.join(SAMPLES, "woman2.mp4"))
    frames = []
    while len(frames) < n:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    return frames


def test_faces_are_followed_between_detections(recognizer):
    from fer_toolkit.features.faces import box_iou as iou
    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.models.video import FaceTracker

    frames = video_frames(60)
    video = Recognizer("fer2013", detector="dlib", max_side=480, coarse_side=320)
    every = FaceTracker(video, detect_every=1)
    followed = FaceTracker(video, detect_every=5)
    a = [every.predict(f) for f in frames]
    b = [followed.predict(f) for f in frames]
    assert every.detections == 60 and 12 <= followed.detections <= 20
    assert all(len(x) == 1 for x in a) and all(len(x) == 1 for x in b)
    overlaps = [iou(x[0]["box"], y[0]["box"]) for x, y in zip(a, b)]
    assert np.median(overlaps) > 0.8 and min(overlaps) > 0.5
    agree = np.mean([x[0]["label"] == y[0]["label"] for x, y in zip(a, b)])
    assert agree >= 0.8
    # Coarse-to-fine finds the same face as detection at 480 alone.
    plain = Recognizer(detector="dlib", max_side=480)
    for frame in frames[::10]:
        assert iou(plain.detect(frame)[0], video.detect(frame)[0]) > 0.6


def test_video_coarse_look_by_mtcnn_finds_the_faces_hog_refines(recognizer):
    """MTCNN as video's coarse look (``VIDEO.video_coarse_mtcnn``): MTCNN on the frame
    shrunk to 320, each face refined by HOG around itself; no face from it falls back to HOG over the
    frame."""
    import cv2

    from fer_toolkit.features.faces import box_iou, detect_faces
    from fer_toolkit.models.mtcnn import coarse_faces
    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.parameters import VIDEO

    video = Recognizer("fer2013").with_detection("dlib", 480, coarse_side=320)
    assert video.coarse_look is (coarse_faces if VIDEO.video_coarse_mtcnn else None)
    assert Recognizer("fer2013").with_detection("opencv", 480, coarse_side=320).coarse_look is None
    frames = [cv2.cvtColor(cv2.resize(f, (640, 480)), cv2.COLOR_BGR2GRAY) for f in video_frames(60)[::6]]
    for gray in frames:
        hog = detect_faces(gray, "dlib", 480, coarse_side=320)
        mtcnn = detect_faces(gray, "dlib", 480, coarse_side=320, coarse=coarse_faces)
        assert len(hog) == len(mtcnn) == 1 and box_iou(hog[0], mtcnn[0]) > 0.6  # HOG's boxes, at another scale
    assert detect_faces(frames[0], "dlib", 480, coarse_side=320, coarse=lambda g, side: []) == \
        detect_faces(frames[0], "dlib", 480)  # nothing coarse: the search over the frame


def test_video_keeps_mtcnns_face_that_hog_does_not_find_again():
    """An out-of-focus frame (woman2's first, blurred): MTCNN's coarse look finds the face, HOG
    finds it neither around MTCNN's box nor over the frame. ``coarse_refine="keep"`` (video's,
    ``VIDEO.video_mtcnn_refine``) keeps MTCNN's box, framed as HOG frames the sharp face;
    ``"search"`` loses the face; ``"none"`` takes MTCNN's box even where HOG refines it."""
    import cv2
    import pytest

    from fer_toolkit.features.faces import box_iou, detect_faces
    from fer_toolkit.models.mtcnn import coarse_faces
    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.parameters import VIDEO

    gray = cv2.cvtColor(video_frames(1)[0], cv2.COLOR_BGR2GRAY)
    blurred = cv2.GaussianBlur(gray, (0, 0), 7)
    sharp = detect_faces(gray, "dlib", 480, coarse_side=320, coarse=coarse_faces)
    assert len(sharp) == 1
    assert detect_faces(blurred, "dlib", 480, coarse_side=320, coarse=coarse_faces, coarse_refine="search") == []
    kept = detect_faces(blurred, "dlib", 480, coarse_side=320, coarse=coarse_faces, coarse_refine="keep")
    assert len(kept) == 1 and box_iou(kept[0], sharp[0]) > 0.5
    # Where HOG finds the face again, "keep" is "search"; "none" keeps MTCNN's own framing.
    assert detect_faces(gray, "dlib", 480, coarse_side=320, coarse=coarse_faces, coarse_refine="keep") == sharp
    unrefined = detect_faces(gray, "dlib", 480, coarse_side=320, coarse=coarse_faces, coarse_refine="none")
    assert len(unrefined) == 1 and unrefined != sharp and box_iou(unrefined[0], sharp[0]) > 0.5
    with pytest.raises(ValueError, match="coarse_refine"):
        detect_faces(gray, "dlib", 480, coarse_side=320, coarse=coarse_faces, coarse_refine="maybe")
    video = Recognizer("fer2013").with_detection("dlib", 480, coarse_side=320)
    assert video.coarse_refine == VIDEO.video_mtcnn_refine == "keep"
    with pytest.raises(ValueError, match="coarse_refine"):
        video.with_detection("dlib", 480, coarse_side=320, coarse_refine="maybe")
    assert len(video.detect(cv2.cvtColor(blurred, cv2.COLOR_GRAY2BGR))) == 1


def test_followed_faces_are_cut_at_fer2013s_framing_from_the_last_landmarks():
    """Between detections, a followed face is cut around the previous frame's landmarks at
    FER-2013's framing: on a still frame, what photos' one re-framing pass gives for the
    detected box (at no landmark fit of its own); without it, the face is cut around its box."""
    import copy

    from fer_toolkit.features.faces import box_iou as iou
    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.models.video import FaceTracker

    frame = video_frames(1)[0]
    video = Recognizer("fer2013", fast=False).with_detection("dlib", 480, 320)  # the stream's, float32
    assert video.reframe == 0
    framed = FaceTracker(video, detect_every=5)
    around_box = FaceTracker(video, detect_every=5, reframe=False)
    detected, followed = framed.predict(frame), framed.predict(frame)
    plain = [around_box.predict(frame), around_box.predict(frame)]
    assert framed.detections == around_box.detections == 1 and len(detected) == len(followed) == 1
    assert detected == plain[0]  # detection frames are not re-framed
    assert iou(followed[0]["box"], detected[0]["box"]) > 0.95  # the box stays in the detection's relation
    photo = copy.copy(video)
    photo.reframe = 1
    want = photo.predict(frame, boxes=[detected[0]["box"]])[0]
    got = followed[0]
    assert got["label"] == want["label"]
    assert max(abs(got["probabilities"][c] - want["probabilities"][c]) for c in video.classes) < 0.02
    assert np.abs(np.subtract(got["landmarks"], want["landmarks"])).max() < 1.0
    # Cut around its box instead, the followed face is the detection's crop again.
    assert np.abs(np.subtract(plain[1][0]["landmarks"], detected[0]["landmarks"])).max() < 1.0
    off = max(abs(plain[1][0]["probabilities"][c] - want["probabilities"][c]) for c in video.classes)
    assert off > 10 * max(abs(got["probabilities"][c] - want["probabilities"][c]) for c in video.classes)
    with pytest.raises(ValueError, match="1 sets of landmarks for 2 boxes"):
        video.predict(frame, boxes=[detected[0]["box"]] * 2, landmarks=[detected[0]["landmarks"]])
    with pytest.raises(ValueError, match="with the boxes"):
        video.predict(frame, landmarks=[detected[0]["landmarks"]])


class FakeCamera:
    """Frames numbered 0, 1, ... every ``period`` seconds, like a camera that does not wait."""

    def __init__(self, n, period):
        self.n, self.period, self.i = n, period, 0
        self.released = False

    def read(self):
        if self.i >= self.n:
            return False, None
        time.sleep(self.period)
        self.i += 1
        return True, np.full((4, 4), self.i - 1, np.uint8)

    def release(self):
        self.released = True


def test_a_slow_loop_drops_camera_frames_instead_of_queueing_them():
    from fer_toolkit.models.video import LatestFrames

    reader = LatestFrames(FakeCamera(150, 0.002))
    seen = []
    while True:
        ok, frame = reader.read()
        if not ok:
            break
        seen.append(int(frame[0, 0]))
        time.sleep(0.02)  # a loop ten times slower than the camera
    reader.release()
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[-1] >= 145  # it ends on (nearly) the camera's newest frame, not 15 frames behind
    assert reader.dropped + len(seen) == 150 and reader.dropped > 100
    assert threading.active_count() < 50


def test_video_flags_are_checked():
    for flags, message in ((["--detect-every", "0"], "--detect-every must be 1 or more"),
                           (["--coarse-side", "-1"], "--coarse-side must be 0")):
        result = subprocess.run([os.path.join(BIN, "fer-video"), "--video", os.path.join(SAMPLES, "woman2.mp4"),
                                 "--no-display", *flags], capture_output=True, text=True)
        assert result.returncode == 1 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run([os.path.join(BIN, "fer-web"), "--coarse-side", "-1"], capture_output=True, text=True)
    assert result.returncode == 1 and "--coarse-side must be 0" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_alignment_is_the_same_in_conversion_and_prediction(fer_csv, tmp_path):
    """``fer-convert --align`` rotates the faces to level eyes; a bundle whose specification aligns
    does the same to the crops it is given, so its predictions equal its evaluation on the arrays."""
    import json
    import shutil

    from fer_toolkit.features.conversion import convert
    from fer_toolkit.features.io import load_arrays
    from fer_toolkit.features.landmarks import landmarks_batch
    from fer_toolkit.features.spec import FeatureSpec
    from fer_toolkit.models.bundle import FER2013_MODEL, BundleError, load_bundle
    from fer_toolkit.models.evaluate import check_compatible, predict_split
    from fer_toolkit.models.recognizer import Recognizer

    plain, aligned = tmp_path / "plain", tmp_path / "aligned"
    convert(fer_csv, str(plain), limit=60, progress=False, workers=1)
    manifest = convert(fer_csv, str(aligned), limit=60, progress=False, workers=1, spec=FeatureSpec(align=True))
    assert manifest["feature_spec"]["align"] is True

    def eye_angles(images):
        points = landmarks_batch(images).astype(float)
        delta = points[:, 42:48].mean(1) - points[:, 36:42].mean(1)
        return np.abs(np.degrees(np.arctan2(delta[:, 1], delta[:, 0])))

    raw = load_arrays(str(plain), "PrivateTest")["images"]
    faces = load_arrays(str(aligned), "PrivateTest")["images"]
    assert np.median(eye_angles(faces)) < np.median(eye_angles(raw)) / 2

    bundle_dir = tmp_path / "bundle"
    shutil.copytree(FER2013_MODEL, bundle_dir)
    meta = json.load(open(bundle_dir / "bundle.json"))
    meta["feature_spec"] = {**meta.get("feature_spec", {}), "align": True}
    (bundle_dir / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="align False vs True"):
        check_compatible(load_bundle(FER2013_MODEL), json.load(open(aligned / "manifest.json")), str(aligned))
    expected = predict_split(load_bundle(str(bundle_dir)), str(aligned), "PrivateTest")[0]
    recognizer = Recognizer(str(bundle_dir))
    got, arrays = recognizer.predict_crops(raw)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    # Landmarks are reported on the faces as given, not on their rotated copies.
    assert np.median(np.abs(arrays["landmarks"] - landmarks_batch(raw))) < 1.0
