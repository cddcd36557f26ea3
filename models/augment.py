"""Image augmentation that keeps the handcrafted features consistent.

Geometric changes (flip, shift, rotation, zoom) move the landmarks with the very
same transform (a flip is the feature specification's mirror, which also swaps
left and right points); after all changes the HOG features are recomputed from
the augmented image by the specification that conversion used.
"""

import cv2
import numpy as np

from ..features.landmarks import clip_landmarks
from ..features.spec import FeatureSpec
from ..parameters import TRAINING


def _affine(rng, size, params):
    """A random rotation and zoom about the centre plus a shift, as a 2x3 matrix."""
    angle = rng.uniform(-params.max_rotation_deg, params.max_rotation_deg)
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    scale = rng.uniform(1.0 - params.max_scale, 1.0 + params.max_scale) if params.max_scale else 1.0
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[:, 2] += rng.integers(-params.max_shift, params.max_shift + 1, size=2)
    return matrix


def augment_batch(images, landmarks, rng, params=TRAINING, spec=None):
    """Randomly flip, shift, rotate, zoom, re-contrast, sharpen or blur, add noise
    and cut out a square.

    Parameters
    ----------
    images : (N, H, W) uint8 ndarray
    landmarks : (N, 68, 2) ndarray or None
        Moved with the images when given.
    rng : numpy.random.Generator
    params : parameters.Training, optional
        Augmentation strengths.
    spec : features.spec.FeatureSpec, optional
        Its :meth:`~features.spec.FeatureSpec.mirror` makes the flips.

    Returns
    -------
    images : (N, H, W) uint8 ndarray
    landmarks : (N, 68, 2) float32 ndarray or None
        Transformed like the images and clipped to them, as conversion does.
    """
    n, h, w = images.shape
    out = images.copy()
    lms = None if landmarks is None else np.asarray(landmarks, dtype=np.float32).copy()
    spec = spec or FeatureSpec()
    flip = rng.random(n) < params.flip_prob
    out[flip], flipped = spec.mirror(out[flip], None if lms is None else lms[flip])
    if lms is not None:
        lms[flip] = flipped
    work = np.empty((n, h, w), dtype=np.float32)
    for i in range(n):
        matrix = _affine(rng, h, params)
        img = cv2.warpAffine(out[i], matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        if lms is not None:
            lms[i] = lms[i] @ matrix[:, :2].T + matrix[:, 2]
        img = img.astype(np.float32)
        low, high = params.contrast_range
        mean = img.mean()
        img = (img - mean) * rng.uniform(low, high) + mean
        if rng.random() < params.sharpness_prob:
            # factor < 1 blurs, > 1 sharpens (unsharp masking).
            blurred = cv2.GaussianBlur(img, (3, 3), 0)
            img = blurred + rng.uniform(0.0, 2.0) * (img - blurred)
        if params.noise_std > 0:
            img += rng.normal(0.0, params.noise_std, img.shape).astype(np.float32)
        if rng.random() < params.cutout_prob:
            size = params.cutout_size
            y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
            img[y : y + size, x : x + size] = mean
        work[i] = img
    if lms is not None:
        clip_landmarks(lms, (h, w))
    return np.clip(np.rint(work), 0, 255).astype(np.uint8), lms


def features_of_augmented(images, landmarks, spec):
    """Stacked features of augmented images.

    HOG and sliding-window HOG are recomputed from ``images`` by the feature
    specification; landmarks are the transformed ones from
    :func:`augment_batch` (re-running dlib per batch would cost about 1 ms an
    image).

    Parameters
    ----------
    images : (N, S, S) uint8 ndarray
    landmarks : (N, 68, 2) ndarray or None
    spec : features.spec.FeatureSpec

    Returns
    -------
    (N, D) float32 ndarray
    """
    return spec.compute(images, landmarks)
