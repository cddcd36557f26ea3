"""The one feature function: conversion and prediction both call it."""

import numpy as np

from ..parameters import DATASET, FEATURE_SETS

from .hog import hog_batch, hog_windows_batch
from .landmarks import landmarks_batch


def extract_features(images, landmarks=True, hog=True, params=DATASET):
    """Handcrafted features of a batch of 48x48 grayscale faces.

    Parameters
    ----------
    images : (N, 48, 48) uint8 ndarray
        Faces, cropped and scaled as in FER-2013.
    landmarks : bool, optional
        Compute dlib's 68 landmarks.
    hog : bool, optional
        Compute the whole-image HOG and the sliding-window HOG.
    params : parameters.Dataset, optional
        Landmark box and HOG settings.

    Returns
    -------
    dict of str to ndarray
        ``landmarks`` (N, 68, 2) float32, ``hog`` (N, 72) float32 and
        ``hog_windows`` (N, 1800) float32, for the features asked for.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"expected (N, H, W) uint8 images, got {images.shape} {images.dtype}")
    out = {}
    if landmarks:
        out["landmarks"] = landmarks_batch(images, box=params.landmark_box)
    if hog:
        out["hog"] = hog_batch(images, orientations=params.hog_orientations, cell=params.hog_cell)
        out["hog_windows"] = hog_windows_batch(
            images,
            window=params.window_size,
            step=params.window_step,
            orientations=params.window_orientations,
            cell=params.window_cell,
        )
    return out


def feature_dimensions(params=DATASET):
    """Length of each flattened feature for the given settings.

    Returns
    -------
    dict of str to int
    """
    size = params.image_size
    n_win = len(range(0, size - params.window_size + 1, params.window_step)) ** 2
    return {
        "landmarks": 68 * 2,
        "hog": (size // params.hog_cell) ** 2 * params.hog_orientations,
        "hog_windows": n_win * (params.window_size // params.window_cell) ** 2 * params.window_orientations,
    }


def uses_hog(feature_set):
    """Whether a feature set needs the HOG features (whole-image or windows)."""
    return any(name.startswith("hog") for name in FEATURE_SETS[feature_set])


def stack_features(arrays, feature_set):
    """Flatten and concatenate the arrays of a feature set, in a fixed order.

    Parameters
    ----------
    arrays : dict of str to ndarray
        As returned by :func:`extract_features` (extra keys are ignored).
    feature_set : str
        A key of :data:`parameters.FEATURE_SETS`.

    Returns
    -------
    (N, D) float32 ndarray
        D is 0 for ``none``.
    """
    names = FEATURE_SETS[feature_set]
    if not names:
        n = len(next(iter(arrays.values()))) if arrays else 0
        return np.zeros((n, 0), dtype=np.float32)
    parts = [np.asarray(arrays[k]) for k in names]
    return np.concatenate([p.reshape(len(p), int(np.prod(p.shape[1:]))) for p in parts], axis=1).astype(np.float32)
