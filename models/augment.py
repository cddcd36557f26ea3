"""Image augmentation that keeps the handcrafted features consistent.

Geometric changes (flip, shift, rotation) move the landmarks with the very
same transform (a flip also swaps left and right points, so that point 36 is
still the outer corner of the face's right eye); after all changes the HOG
features are recomputed from the augmented image by the same function that
conversion uses.
"""

import cv2
import numpy as np

from ..features.extract import extract_features, stack_features, uses_hog
from ..features.landmarks import clip_landmarks
from ..parameters import FEATURE_SETS, TRAINING


def _mirror_permutation():
    """Index map of the 68-point iBUG scheme under a horizontal flip."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # eyebrows
    pairs += [(31, 35), (32, 34)]  # nose
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips
    perm = np.arange(68)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


MIRROR = _mirror_permutation()


def flip_landmarks(landmarks, width):
    """Landmarks of horizontally flipped images.

    Parameters
    ----------
    landmarks : (N, 68, 2) ndarray
        ``(x, y)`` points.
    width : int
        Image width in pixels.

    Returns
    -------
    (N, 68, 2) ndarray
        ``x`` mirrored to ``width - 1 - x`` and left/right points swapped.
    """
    out = landmarks[:, MIRROR].copy()
    out[..., 0] = (width - 1) - out[..., 0]
    return out


def _affine(rng, size, params):
    """A random rotation about the centre plus a shift, as a 2x3 matrix."""
    angle = rng.uniform(-params.max_rotation_deg, params.max_rotation_deg)
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    matrix[:, 2] += rng.integers(-params.max_shift, params.max_shift + 1, size=2)
    return matrix


def augment_batch(images, landmarks, rng, params=TRAINING):
    """Randomly flip, shift, rotate, re-contrast, sharpen or blur, add noise
    and cut out a square.

    Parameters
    ----------
    images : (N, H, W) uint8 ndarray
    landmarks : (N, 68, 2) ndarray or None
        Moved with the images when given.
    rng : numpy.random.Generator
    params : parameters.Training, optional
        Augmentation strengths.

    Returns
    -------
    images : (N, H, W) uint8 ndarray
    landmarks : (N, 68, 2) float32 ndarray or None
        Transformed like the images and clipped to them, as conversion does.
    """
    n, h, w = images.shape
    out = images.copy()
    lms = None if landmarks is None else np.asarray(landmarks, dtype=np.float32).copy()
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    if lms is not None:
        lms[flip] = flip_landmarks(lms[flip], w)
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


def features_of_augmented(images, landmarks, feature_set):
    """Stacked features of augmented images.

    HOG and sliding-window HOG are recomputed from ``images`` with
    :func:`features.extract.extract_features`; landmarks are the transformed
    ones from :func:`augment_batch` (re-running dlib per batch would cost
    about 1 ms an image).

    Parameters
    ----------
    images : (N, 48, 48) uint8 ndarray
    landmarks : (N, 68, 2) ndarray or None
    feature_set : str

    Returns
    -------
    (N, D) float32 ndarray
    """
    arrays = extract_features(images, landmarks=False, hog=uses_hog(feature_set))
    if "landmarks" in FEATURE_SETS[feature_set]:
        arrays["landmarks"] = landmarks
    arrays.setdefault("images", images)
    return stack_features(arrays, feature_set)


def mirror_inputs(images, landmarks, feature_set):
    """Mirror images of faces and their stacked features, made as in
    training's flip (landmarks mirrored and swapped left/right, HOG
    recomputed from the flipped image): the second view of flip test-time
    augmentation.

    Parameters
    ----------
    images : (N, 48, 48) uint8 ndarray
    landmarks : (N, 68, 2) ndarray or None
        Landmarks of ``images`` (needed when ``feature_set`` uses them).
    feature_set : str

    Returns
    -------
    flipped : (N, 48, 48) uint8 ndarray
    features : (N, D) float32 ndarray
        Raw (unstandardised) features of ``flipped``.
    """
    flipped = np.ascontiguousarray(np.asarray(images)[:, :, ::-1])
    if landmarks is not None:
        landmarks = flip_landmarks(np.asarray(landmarks, dtype=np.float32), flipped.shape[2])
    return flipped, features_of_augmented(flipped, landmarks, feature_set)


def mirror_probabilities(bundle, images, landmarks):
    """A bundle's class probabilities on the mirror images of faces
    (:func:`mirror_inputs`).

    Returns
    -------
    (N, K) float32 ndarray
    """
    return bundle.predict_proba(*mirror_inputs(images, landmarks, bundle.feature_set))
