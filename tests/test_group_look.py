"""The group look: MTCNN (shipped weights) finds the small faces beside a large one, on real photos."""

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from conftest import SAMPLES, run_cli


def grey(name):
    return cv2.imread(os.path.join(SAMPLES, name), cv2.IMREAD_GRAYSCALE)


def hog_faces(gray):
    from fer_toolkit.features.faces import _rects

    return _rects(gray, "dlib", 0, 0, 0)


def paste_face(canvas, gray, box, side, x, y):
    """The face ``box`` of a real photo, with 0.3 of its side around it, pasted so that the face is
    ``side`` pixels with its top-left corner at ``(x, y)``; returns the face's box in the canvas."""
    bx, by, bs = box[0], box[1], box[2]
    margin = 0.3 * bs
    x0, y0 = int(round(bx - margin)), int(round(by - margin))
    cut = gray[max(0, y0): int(round(by + bs + margin)), max(0, x0): int(round(bx + bs + margin))]
    k = side / bs
    small = cv2.resize(cut, (round(cut.shape[1] * k), round(cut.shape[0] * k)), interpolation=cv2.INTER_AREA)
    px, py = int(round(x - (bx - max(0, x0)) * k)), int(round(y - (by - max(0, y0)) * k))
    canvas[py: py + small.shape[0], px: px + small.shape[1]] = small
    return (x, y, side, side)


@pytest.fixture(scope="module")
def group_photo():
    """A 800x600 photo of real faces: Lin-Manuel Miranda's at about 140 pixels, and Obama's and the
    two faces of two_people.jpg at 44 to 48 pixels (under HOG's smallest face) beside it."""
    canvas = np.full((600, 800), 150, np.uint8)
    truth = []
    for name, side, x, y in (("lin-manuel-miranda.png", 140, 80, 150), ("obama.jpg", 48, 450, 120),
                             ("two_people.jpg", 46, 560, 330), ("two_people.jpg", 44, 420, 420)):
        gray = grey(name)
        faces = sorted(hog_faces(gray), key=lambda b: b[0])
        face = faces[1] if (name, x) == ("two_people.jpg", 420) else faces[0]
        truth.append(paste_face(canvas, gray, face, side, x, y))
    return canvas, truth


def matched(boxes, truth):
    from fer_toolkit.features.faces import box_iou

    return [any(box_iou(b, t) > 0.3 for b in boxes) for t in truth]


def test_mtcnn_finds_the_faces_of_real_photos_and_none_where_there_is_none():
    from fer_toolkit.features.faces import box_iou
    from fer_toolkit.models.mtcnn import as_hog_box, mtcnn

    gray = grey("two_people.jpg")
    found = [as_hog_box(*box) for box, score in mtcnn()(gray, 40)]
    assert len(found) == 2
    for face in hog_faces(gray):  # framed as HOG frames them (VIDEO.mtcnn_box_*)
        assert max(box_iou(face, box) for box in found) > 0.6
    assert mtcnn()(grey("no-faces.jpg"), 24) == []


def test_small_faces_beside_a_large_one_are_found_by_default(group_photo):
    from fer_toolkit.features.faces import box_iou, detect_faces
    from fer_toolkit.models.mtcnn import look_beside, more_faces
    from fer_toolkit.models.recognizer import Recognizer

    canvas, truth = group_photo
    assert matched(detect_faces(canvas), truth) == [True, False, False, False]  # HOG: the large face only
    boxes = detect_faces(canvas, more=more_faces)
    assert matched(boxes, truth) == [True, True, True, True]
    assert len(boxes) == 4 and boxes[0] == detect_faces(canvas)[0]  # the large face is still the first
    with ThreadPoolExecutor(1) as pool:  # MTCNN beside HOG's search, as Recognizer runs it: the same faces
        more, look = look_beside(canvas, pool.submit)
        beside = detect_faces(canvas, more=more)
        assert look.done() and len(beside) == 4 and beside[0] == boxes[0]
        assert all(max(box_iou(b, other) for other in boxes) > 0.9 for b in beside)

    faces = Recognizer().predict(canvas)
    assert matched([f["box"] for f in faces], truth) == [True, True, True, True] and len(faces) == 4
    assert len(Recognizer(group_look=False).predict(canvas)) == 1
    assert not Recognizer().with_detection("dlib", 480).group_look  # video: speed first


def test_litert_finds_what_tensorflow_finds(group_photo, tmp_path, monkeypatch):
    """The networks on LiteRT (converted once, cached) and on TensorFlow's graphs: the same faces."""
    from fer_toolkit.models import mtcnn as module

    lite, graphs = module.MTCNN(cache_dir=str(tmp_path)), module.MTCNN(litert=False)
    photos = [grey("two_people.jpg"), grey("obama.jpg"), group_photo[0]]
    for gray in photos:
        a, b = lite(gray, 24), graphs(gray, 24)
        assert len(a) == len(b) > 0
        for (box_a, score_a), (box_b, score_b) in zip(a, b):
            assert np.allclose(box_a, box_b, atol=0.05) and abs(score_a - score_b) < 1e-4
    assert (lite.backend, graphs.backend) == ("litert", "tensorflow")
    cached = sorted(os.listdir(tmp_path))
    assert [name.split("-")[1] for name in cached] == ["onet", "pnet", "rnet"]
    stamps = [os.path.getmtime(tmp_path / name) for name in cached]
    assert module.MTCNN(cache_dir=str(tmp_path))(photos[0], 24) == lite(photos[0], 24)  # read from the cache
    assert [os.path.getmtime(tmp_path / name) for name in cached] == stamps

    def broken(*args):
        raise RuntimeError("no LiteRT here")

    monkeypatch.setattr(module, "_litert_networks", broken)
    fallback = module.MTCNN()
    assert fallback(photos[0], 24) == graphs(photos[0], 24) and fallback.backend == "tensorflow"


def test_crops_sample_as_tensorflow_does():
    import tensorflow as tf

    from fer_toolkit.models.mtcnn import crops

    image = (grey("obama.jpg").astype(np.float32) - 127.5) / 128.0
    h, w = image.shape
    corners = np.array([[-30.5, -12, 200, 230], [366, 136, 625, 395], [w - 50, h - 40, w + 60, h + 30.25]], np.float32)
    fractions = (corners[:, [1, 0, 3, 2]] / np.array([h, w, h, w], np.float32)).astype(np.float32)
    for side in (24, 48):
        expected = tf.image.crop_and_resize(image[None, :, :, None], fractions, np.zeros(3, np.int32), (side, side))
        assert np.abs(crops(image, corners, side) - expected.numpy()).max() < 1e-4


def test_a_small_face_alone_is_found_by_the_look_before_the_slower_looks(monkeypatch):
    """Where HOG's first look finds nothing, MTCNN's faces come before HOG upsampled and the CNN detector."""
    from fer_toolkit.features import faces
    from fer_toolkit.models.mtcnn import more_faces
    from fer_toolkit.models.recognizer import Recognizer

    canvas = np.full((480, 640), 150, np.uint8)
    gray = grey("obama.jpg")
    truth = [paste_face(canvas, gray, hog_faces(gray)[0], 48, 300, 200)]
    assert faces.detect_faces(canvas, "dlib") == []  # under HOG's smallest face
    slow = []
    monkeypatch.setattr(faces, "_hog_near_misses", lambda *args: slow.append(args) or ([], []))
    boxes = faces.detect_faces(canvas, "dlib+cnn", more=more_faces)  # the photo detector
    assert matched(boxes, truth) == [True] and len(boxes) == 1 and slow == []
    found = Recognizer().predict(canvas)
    assert matched([f["box"] for f in found], truth) == [True] and len(found) == 1 and slow == []
    faces.detect_faces(canvas, "dlib+cnn", last_look="slow")
    assert len(slow) == 1  # without the look, the slower looks run


def test_folder_conversion_takes_the_small_face_that_recognizer_takes(tmp_path):
    """fer-convert --images searches a photo as Recognizer does: where HOG finds nothing, MTCNN's face
    comes before the last look (whose CNN would frame it otherwise), so the crops are the same; and in
    this process, after the CNN ran here, its workers do not hang."""
    from fer_toolkit.features import faces
    from fer_toolkit.models.recognizer import Recognizer

    canvas = np.full((480, 640), 150, np.uint8)
    gray = grey("obama.jpg")
    truth = [paste_face(canvas, gray, hog_faces(gray)[0], 48, 300, 200)]
    by_last_look = faces.detect_faces(canvas, "dlib+cnn")  # without the group look: YuNet's box, the CNN's frame
    assert matched(by_last_look, truth) == [True]
    recognizer = Recognizer()
    boxes, _, crops = recognizer.locate(canvas)[:3]
    assert matched(boxes, truth) == [True] and len(boxes) == 1 and boxes[0] != by_last_look[0]
    for name, image in (("happy", canvas), ("sad", grey("two_people.jpg"))):
        os.makedirs(tmp_path / "tree" / name)
        cv2.imwrite(str(tmp_path / "tree" / name / "photo.png"), image)
    # The dog's face, which YuNet proposes, has dlib's CNN run in a worker: this process ran it above,
    # and a worker forked from it would hang there.
    shutil.copy(os.path.join(SAMPLES, "dogs.jpg"), tmp_path / "tree" / "sad" / "dogs.jpg")
    result = run_cli("convert", "--images", str(tmp_path / "tree"), "--out", str(tmp_path / "data"),
                     "--no-progress", "--validation-fraction", "0")
    assert result.returncode == 0, result.stderr
    classes = json.load(open(tmp_path / "data" / "manifest.json"))["classes"]
    images = np.load(tmp_path / "data" / "Training" / "images.npy")
    labels = np.load(tmp_path / "data" / "Training" / "labels.npy")
    np.testing.assert_array_equal(images[labels == [c.lower() for c in classes].index("happy")], crops)
    skipped = json.load(open(tmp_path / "data" / "manifest.json"))["skipped"]
    assert "no face found" in json.dumps(skipped) and "dogs.jpg" in json.dumps(skipped), skipped


def test_a_photo_without_a_face_gets_no_group_look():
    from fer_toolkit.features.faces import detect_faces

    calls = []
    gray = grey("dogs.jpg")
    assert detect_faces(gray, "dlib", more=lambda g, found: calls.append(found) or []) == []
    assert calls == []


def test_cli_without_the_group_look(group_photo, tmp_path):
    path = str(tmp_path / "group.png")
    cv2.imwrite(path, group_photo[0])
    with_look = json.loads(run_cli("predict", path, "--json").stdout)
    without = json.loads(run_cli("predict", path, "--json", "--no-group-look").stdout)
    assert len(with_look[0]["faces"]) == 4 and len(without[0]["faces"]) == 1


def test_nms_by_union_and_by_the_smaller_box():
    from fer_toolkit.models.mtcnn import nms

    corners = np.array([[0, 0, 99, 99], [10, 10, 109, 109], [20, 20, 49, 49], [200, 200, 249, 249]], float)
    scores = np.array([0.9, 0.8, 0.95, 0.5])
    assert list(nms(corners, scores, 0.5)) == [2, 0, 3]  # 1 overlaps 0 by 0.68 of their union
    assert list(nms(corners, scores, 0.7, "min")) == [2, 3]  # 0 and 1 each hold all of the smaller 2


def test_damaged_or_missing_weights_are_refused_in_one_line(tmp_path):
    from fer_toolkit.features.landmarks import MissingModelError
    from fer_toolkit.models.mtcnn import MODEL, MTCNN

    with pytest.raises(MissingModelError, match="missing"):
        MTCNN(str(tmp_path / "none.npz"))
    damaged = tmp_path / "mtcnn.npz"
    shutil.copy(MODEL, damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(MissingModelError, match="damaged"):
        MTCNN(str(damaged))
    other = tmp_path / "other.npz"
    np.savez(other, pnet_00=np.zeros(3, np.float32))
    with pytest.raises(MissingModelError, match="not the MTCNN weights"):
        MTCNN(str(other), sha256=None)
