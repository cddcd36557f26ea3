"""Vectorised HOG over a batch of 8-bit images.

The descriptors equal :func:`skimage.feature.hog` (L2-Hys, 1x1 blocks, no
``transform_sqrt``) called image by image, or window by window for the
sliding-window variant, to float tolerance; they are computed for a whole
batch at once.

Gradients of 8-bit images are integer pairs in ``[-255, 255]``, so the
orientation bin and the magnitude of every possible pair are tabulated once
with exactly the float64 formulas scikit-image uses. A pixel's vote is then a
table look-up, and bin assignment never differs from scikit-image, even at
bin edges.
"""

from functools import lru_cache

import numpy as np

_GRAD_RANGE = 255
_GRAD_SPAN = 2 * _GRAD_RANGE + 1
_EPS = 1e-5


@lru_cache(maxsize=8)
def _vote_tables(orientations):
    """Orientation bin and magnitude of every integer gradient pair.

    Parameters
    ----------
    orientations : int
        Number of orientation bins over 0..180 degrees.

    Returns
    -------
    bins : (511 * 511,) uint8 ndarray
        Bin of the pair ``(g_row, g_col)`` at ``(g_row + 255) * 511 + g_col + 255``.
    magnitude : (511 * 511,) float64 ndarray
        Gradient magnitude at the same index.
    """
    g = np.arange(-_GRAD_RANGE, _GRAD_RANGE + 1, dtype=np.float64)
    g_row, g_col = np.meshgrid(g, g, indexing="ij")
    magnitude = np.hypot(g_col, g_row)
    orientation = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    per_bin = 180.0 / orientations
    bins = np.full(orientation.shape, orientations - 1, dtype=np.uint8)
    # scikit-image counts a pixel in bin i when end_i <= angle < start_i, with
    # start_i = per_bin * (i + 1) and end_i = per_bin * i; reproduce it exactly.
    for i in range(orientations - 1, -1, -1):
        start, end = per_bin * (i + 1), per_bin * i
        bins[(orientation < start) & (orientation >= end)] = i
    return bins.ravel(), magnitude.ravel()


def _gradients(images):
    """Central-difference gradients with zero borders, as scikit-image.

    Parameters
    ----------
    images : (..., H, W) integer ndarray

    Returns
    -------
    g_row, g_col : (..., H, W) int16 ndarray
    """
    images = images.astype(np.int16, copy=False)
    g_row = np.zeros(images.shape, dtype=np.int16)
    g_col = np.zeros(images.shape, dtype=np.int16)
    g_row[..., 1:-1, :] = images[..., 2:, :] - images[..., :-2, :]
    g_col[..., :, 1:-1] = images[..., :, 2:] - images[..., :, :-2]
    return g_row, g_col


def _l2_hys(hist):
    """L2-Hys normalisation of 1x1-cell blocks along the last axis."""
    out = hist / np.sqrt(np.sum(hist**2, axis=-1, keepdims=True) + _EPS**2)
    out = np.minimum(out, 0.2)
    return out / np.sqrt(np.sum(out**2, axis=-1, keepdims=True) + _EPS**2)


def _pair_index(g_row, g_col):
    """Index of each gradient pair in the tables of :func:`_vote_tables`."""
    index = (g_row.astype(np.int32) + _GRAD_RANGE) * _GRAD_SPAN
    index += g_col
    index += _GRAD_RANGE
    return index


def _cell_hog(index, cell, orientations):
    """Normalised cell histograms of gradient patches.

    Parameters
    ----------
    index : (M, H, W) int32 ndarray
        Gradient pairs of M patches, as given by :func:`_pair_index`.
    cell : int
        Cell side in pixels; ``H // cell`` by ``W // cell`` cells per patch.
    orientations : int

    Returns
    -------
    (M, H // cell * W // cell * orientations) float64 ndarray
        Row-major cells, then orientations, as ``hog(..., feature_vector=True)``.
    """
    m, h, w = index.shape
    rows, cols = h // cell, w // cell
    index = index[:, : rows * cell, : cols * cell]
    bins, magnitude = _vote_tables(orientations)
    # Per-pixel target slot: (patch, cell row, cell col, bin).
    cell_of_pixel = (np.arange(rows * cell) // cell)[:, None] * cols + (np.arange(cols * cell) // cell)[None, :]
    n_slots = m * rows * cols * orientations
    dtype = np.int32 if n_slots < 2**31 else np.int64
    slot = (np.arange(m, dtype=dtype)[:, None, None] * (rows * cols) + cell_of_pixel.astype(dtype)) * orientations
    slot = (slot + bins[index]).ravel()
    hist = np.bincount(slot, weights=magnitude[index].ravel(), minlength=n_slots)
    hist = hist.reshape(m, rows * cols, orientations) / (cell * cell)
    return _l2_hys(hist).reshape(m, rows * cols * orientations)


def hog_batch(images, orientations=8, cell=16):
    """HOG of whole images, one descriptor per image.

    Parameters
    ----------
    images : (N, H, W) uint8 ndarray
    orientations : int, optional
    cell : int, optional
        Cell side in pixels (blocks are 1x1 cells).

    Returns
    -------
    (N, (H // cell) * (W // cell) * orientations) float32 ndarray
        Equal to ``skimage.feature.hog(image, orientations, (cell, cell), (1, 1))``
        for each image.
    """
    index = _pair_index(*_gradients(np.asarray(images)))
    return _cell_hog(index, cell, orientations).astype(np.float32)


def window_positions(size, window, step):
    """Top-left offsets of the full windows along one axis.

    Parameters
    ----------
    size, window, step : int

    Returns
    -------
    list of int
    """
    return list(range(0, size - window + 1, step))


def hog_windows_batch(images, window=24, step=6, orientations=8, cell=8):
    """Sliding-window HOG: one HOG per full window, concatenated.

    Windows are visited row by row (top offset outer, left offset inner), and
    each is described as if it were an image of its own (its border gradients
    are zero), exactly as calling scikit-image's ``hog`` on each crop.

    Parameters
    ----------
    images : (N, H, W) uint8 ndarray
    window, step : int, optional
        Window side and stride in pixels.
    orientations, cell : int, optional
        HOG parameters inside each window (1x1 blocks).

    Returns
    -------
    (N, n_windows * (window // cell) ** 2 * orientations) float32 ndarray
    """
    images = np.asarray(images)
    n, h, w = images.shape
    g_row, g_col = _gradients(images)
    zero = np.zeros_like(g_row)
    full = _pair_index(g_row, g_col)
    # Inside a window a pixel on its top or bottom row has no row gradient, one
    # on its left or right column no column gradient, a corner neither.
    no_row, no_col = _pair_index(zero, g_col), _pair_index(g_row, zero)
    neither = _GRAD_RANGE * _GRAD_SPAN + _GRAD_RANGE  # the pair (0, 0)
    ys, xs = window_positions(h, window, step), window_positions(w, window, step)
    index = np.empty((n, len(ys), len(xs), window, window), dtype=np.int32)
    last = window - 1
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            crop = index[:, i, j]
            crop[...] = full[:, y : y + window, x : x + window]
            crop[:, [0, last], :] = no_row[:, [y, y + last], x : x + window]
            crop[:, :, [0, last]] = no_col[:, y : y + window, [x, x + last]]
            crop[:, [0, 0, last, last], [0, last, 0, last]] = neither
    hist = _cell_hog(index.reshape(-1, window, window), cell, orientations)
    return hist.reshape(n, len(ys) * len(xs) * hist.shape[1]).astype(np.float32)
