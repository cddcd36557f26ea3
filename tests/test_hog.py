"""The vectorised HOG equals scikit-image's hog, image by image and window by window."""

import numpy as np
from skimage.feature import hog

from fer_toolkit.features.hog import hog_batch, hog_windows_batch, window_positions
from fer_toolkit.parameters import FEATURES as P

from conftest import face_like


def reference_hog(image):
    return hog(image, orientations=P.hog_orientations, pixels_per_cell=(P.hog_cell, P.hog_cell),
               cells_per_block=(1, 1))


def reference_windows(image):
    out = []
    for y in window_positions(48, P.window_size, P.window_step):
        for x in window_positions(48, P.window_size, P.window_step):
            window = image[y : y + P.window_size, x : x + P.window_size]
            out.append(hog(window, orientations=P.window_orientations,
                           pixels_per_cell=(P.window_cell, P.window_cell), cells_per_block=(1, 1)))
    return np.concatenate(out)


def check(images):
    got = hog_batch(images, P.hog_orientations, P.hog_cell)
    want = np.stack([reference_hog(im) for im in images])
    np.testing.assert_allclose(got, want, atol=1e-6)
    got = hog_windows_batch(images, P.window_size, P.window_step, P.window_orientations, P.window_cell)
    want = np.stack([reference_windows(im) for im in images])
    assert got.shape == (len(images), 25 * 72)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_equals_skimage_on_synthetic_and_edge_cases():
    rng = np.random.default_rng(1)
    images = np.concatenate([
        face_like(rng, 20),
        rng.integers(0, 256, (10, 48, 48), dtype=np.uint8),  # pure noise: every angle
        np.zeros((1, 48, 48), np.uint8),  # no gradient at all
        np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1))[None],  # exact 0 degree edges
        np.add.outer(np.arange(48), np.arange(48)).astype(np.uint8)[None] * 2,  # exact 45 degrees
    ])
    check(images)


def test_equals_skimage_on_real_faces(real_features):
    images = np.load(f"{real_features}/Training/images.npy")[:150]
    check(images)
    stored = np.load(f"{real_features}/Training/hog_windows.npy")[:150]
    np.testing.assert_allclose(stored, hog_windows_batch(images), atol=1e-6)


def test_empty_batch():
    from fer_toolkit.features.spec import FeatureSpec

    out = FeatureSpec().extract(np.zeros((0, 48, 48), np.uint8))
    assert out["landmarks"].shape == (0, 68, 2) and out["hog"].shape == (0, 72)
    assert out["hog_windows"].shape == (0, 1800)
