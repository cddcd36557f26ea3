"""The batch evaluation of dlib's shape predictor gives dlib's own landmarks."""

import os

import numpy as np
import pytest

from fer_toolkit.features.landmarks import dlib_shape_predictor, landmarks_batch, predictor_path, shape_predictor
from fer_toolkit.features.shape_predictor import ModelFormatError, ShapePredictor


def dlib_landmarks(images, box):
    """dlib's landmarks, one image at a time (unclipped)."""
    import dlib

    predictor = dlib_shape_predictor()
    rect = dlib.rectangle(*box)
    return np.array([[(p.x, p.y) for p in predictor(np.ascontiguousarray(im), rect).parts()]
                     for im in images], dtype=np.float32)


def test_model_arrays_have_dlib_68_point_layout():
    sp = shape_predictor()
    assert sp.n_landmarks == 68
    n_cascades, n_trees, n_splits = sp.split1.shape
    assert sp.leaves.shape == (n_cascades, n_trees, n_splits + 1, 136)
    assert sp.anchors.shape == sp.deltas.shape[:2]
    # the mean shape fills the unit square of the face box (the chin a little below it)
    x, y = sp.initial_shape[0::2], sp.initial_shape[1::2]
    assert 0 <= x.min() < 0.1 and 0.9 < x.max() <= 1
    assert 0 <= y.min() < 0.2 and 1 < y.max() < 1.1


def test_equals_dlib_on_real_faces(real_features):
    images = np.load(os.path.join(real_features, "PrivateTest", "images.npy"))
    box = (0, 0, 47, 47)
    ours = shape_predictor()(images, box)
    np.testing.assert_array_equal(ours, dlib_landmarks(images, box))
    # and the conversion stored exactly these, clipped to the image
    stored = np.load(os.path.join(real_features, "PrivateTest", "landmarks.npy"))
    np.testing.assert_array_equal(stored, np.clip(ours, 0, 47))


def test_equals_dlib_on_large_images_and_boxes_outside():
    """Other image sizes, boxes of other shapes and partly outside the image
    (feature pixels that fall outside read as 0), and a block boundary."""
    from skimage import data, transform

    face = (transform.rescale(data.astronaut()[20:220, 130:330].mean(axis=2), 0.6) * 1).astype(np.uint8)
    rng = np.random.default_rng(0)
    images = np.stack([np.clip(face.astype(int) + rng.integers(-30, 30, face.shape), 0, 255).astype(np.uint8)
                       for _ in range(300)])
    for box in [(10, 5, 110, 105), (-20, 40, 90, 150), (0, 0, 119, 60)]:
        np.testing.assert_array_equal(shape_predictor()(images, box), dlib_landmarks(images, box))


def test_landmarks_batch_clips_to_image():
    rng = np.random.default_rng(1)
    lm = landmarks_batch(rng.integers(0, 256, (5, 48, 48), dtype=np.uint8))
    assert lm.shape == (5, 68, 2) and lm.dtype == np.float32
    assert lm.min() >= 0 and lm.max() <= 47
    assert landmarks_batch(np.zeros((0, 48, 48), np.uint8)).shape == (0, 68, 2)


@pytest.mark.parametrize("cut", [0, 100, 5_000_000])
def test_truncated_or_foreign_file_is_refused(tmp_path, cut):
    path = tmp_path / "model.dat"
    with open(predictor_path(), "rb") as f:
        head = f.read(cut)
    path.write_bytes(head if cut else b"not a dlib model at all, just text" * 10)
    with pytest.raises(ModelFormatError):
        ShapePredictor(str(path))


@pytest.mark.parametrize("script, args", [("convert", ["--workers", "2"]), ("predict", [])])
def test_unusable_landmark_model_is_one_line(tmp_path, synthetic_rows, script, args):
    """A corrupt landmark model file stops fer-convert (whose workers load it)
    and fer-predict with one line, and conversion leaves no output."""
    import subprocess
    import sys

    from conftest import write_csv

    bad = tmp_path / "bad.dat"
    bad.write_bytes(bytes(range(256)) * 8)
    if script == "convert":
        args = ["--csv", write_csv(tmp_path / "f.csv", synthetic_rows), "--out", str(tmp_path / "out"), *args]
    code = (f"import sys; import fer_toolkit.features.landmarks as L; "
            f"L.predictor_path = lambda: {str(bad)!r}; from fer_toolkit.scripts.{script} import main; "
            f"sys.exit(main({args!r}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr
    lines = [l for l in res.stderr.strip().splitlines() if l.startswith(f"fer-{script}: error:")]
    assert len(lines) == 1 and "unusable landmark model" in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()
