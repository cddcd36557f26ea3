"""dlib's 68-point shape predictor, evaluated by compiled NumPy code.

dlib's ``shape_predictor`` is a cascade of regression forests (Kazemi and
Sullivan, 2014). Calling it from Python costs about 0.8 ms an image, most of
it spent one image at a time inside dlib. This module reads the same model
file (dlib's own serialisation format) into arrays and evaluates it with
Numba over a whole batch, following dlib's arithmetic step by step: the
similarity transform between the mean shape and the current shape, the
feature pixels rounded to the nearest pixel, the float32 split tests, and the
float32 sum of the leaf values in tree order. The result is dlib's result
(the tests compare the two on real faces).
"""

import math
import os

import numpy as np

from .util import use_numba_cache_dir

use_numba_cache_dir()

from numba import njit  # noqa: E402  (after the cache folder is chosen)

#: Images evaluated together, tree by tree (their shapes, 544 bytes each, stay
#: in the L2 cache while each tree's leaves stay in L1).
_BLOCK = 256

#: Exponent values dlib uses for the special floats (``dlib::float_details``).
_SPECIAL_EXPONENT = 32000


class ModelFormatError(ValueError):
    """The file is not a dlib shape predictor this module can read."""


# --- reading dlib's serialisation format ---------------------------------------------


@njit(cache=True)
def _read_int(buf, pos):
    """One integer: a byte holding the length (low bits) and the sign (0x80),
    then that many little-endian bytes."""
    if pos >= buf.size:
        raise IndexError("truncated file")
    head = buf[pos]
    size = head & 0x0F
    if size > 8 or pos + 1 + size > buf.size:
        raise IndexError("truncated file")
    value = np.int64(0)
    for k in range(size):
        value |= np.int64(buf[pos + 1 + k]) << (8 * k)
    if head & 0x80:
        value = -value
    return value, pos + 1 + size


@njit(cache=True)
def _read_float(buf, pos):
    """One float: mantissa and exponent, two integers (``dlib::float_details``)."""
    mantissa, pos = _read_int(buf, pos)
    exponent, pos = _read_int(buf, pos)
    if exponent >= _SPECIAL_EXPONENT:
        if exponent == _SPECIAL_EXPONENT:
            return np.inf, pos
        if exponent == _SPECIAL_EXPONENT + 1:
            return -np.inf, pos
        return np.nan, pos
    return math.ldexp(float(mantissa), exponent), pos


@njit(cache=True)
def _read_column(buf, pos, out):
    """A column matrix (rows and columns stored negated), into ``out`` when
    it is large enough; returns its length and the next position."""
    rows, pos = _read_int(buf, pos)
    cols, pos = _read_int(buf, pos)
    n = abs(rows) * abs(cols)
    for k in range(n):
        value, pos = _read_float(buf, pos)
        if k < out.size:
            out[k] = value
    return n, pos


@njit(cache=True)
def _read_size(buf, pos, dims, i, first):
    """A size all cascades (or trees) share: stored in ``dims[i]`` when
    ``first``, otherwise compared with it; returns it, the next position and
    whether it matched."""
    n, pos = _read_int(buf, pos)
    if first:
        dims[i] = n
    return n, pos, first or n == dims[i]


@njit(cache=True)
def _walk(buf, fill, initial, split1, split2, thresh, leaves, anchors, deltas):
    """Walk a serialised ``dlib::shape_predictor``.

    With ``fill`` false only the sizes are read, from the first cascade and
    tree; with ``fill`` true the arrays (allocated from those sizes) are
    filled, and every tree is checked to have the same sizes.

    Returns
    -------
    status : int
        0 when the file was read, otherwise a code naming the problem.
    dims : (7,) int64 ndarray
        version, landmarks x 2, cascades, trees, splits, leaves, pixels.
    end : int
        Position after the last byte read.
    """
    dims = np.zeros(7, dtype=np.int64)
    version, pos = _read_int(buf, 0)
    dims[0] = version
    if version != 1:
        return 1, dims, pos
    n_shape, pos = _read_column(buf, pos, initial)
    dims[1] = n_shape
    n_cascades, pos = _read_int(buf, pos)
    dims[2] = n_cascades
    for c in range(n_cascades):
        n_trees, pos, same = _read_size(buf, pos, dims, 3, c == 0)
        if not same:
            return 2, dims, pos
        for t in range(n_trees):
            n_splits, pos, same = _read_size(buf, pos, dims, 4, c == 0 and t == 0)
            if not same:
                return 2, dims, pos
            for s in range(n_splits):
                i1, pos = _read_int(buf, pos)
                i2, pos = _read_int(buf, pos)
                th, pos = _read_float(buf, pos)
                if fill:
                    split1[c, t, s] = i1
                    split2[c, t, s] = i2
                    thresh[c, t, s] = th
            n_leaves, pos, same = _read_size(buf, pos, dims, 5, c == 0 and t == 0)
            if not same:
                return 2, dims, pos
            if n_leaves != n_splits + 1:
                return 3, dims, pos
            for leaf in range(n_leaves):
                if fill:
                    n, pos = _read_column(buf, pos, leaves[c, t, leaf])
                else:
                    n, pos = _read_column(buf, pos, initial[:0])
                if n != n_shape:
                    return 2, dims, pos
            if not fill:
                return 0, dims, pos
    n_anchor_sets, pos = _read_int(buf, pos)
    if n_anchor_sets != n_cascades:
        return 2, dims, pos
    for c in range(n_cascades):
        n_pixels, pos, same = _read_size(buf, pos, dims, 6, c == 0)
        if not same:
            return 2, dims, pos
        if n_pixels > anchors.shape[1]:
            return 3, dims, pos
        for p in range(n_pixels):
            anchor, pos = _read_int(buf, pos)
            anchors[c, p] = anchor
    n_delta_sets, pos = _read_int(buf, pos)
    if n_delta_sets != n_cascades:
        return 2, dims, pos
    for c in range(n_cascades):
        n_pixels, pos, same = _read_size(buf, pos, dims, 6, False)
        if not same:
            return 2, dims, pos
        for p in range(n_pixels):
            x, pos = _read_float(buf, pos)
            y, pos = _read_float(buf, pos)
            deltas[c, p, 0] = x
            deltas[c, p, 1] = y
    return 0, dims, pos


class ShapePredictor:
    """A dlib shape predictor held as arrays.

    Parameters
    ----------
    path : str
        A ``shape_predictor_*.dat`` file written by dlib.

    Attributes
    ----------
    initial_shape : (2 * P,) float32 ndarray
        Mean shape in the unit square, ``x0, y0, x1, y1, ...``.
    split1, split2 : (C, T, S) int32 ndarray
        Feature pixels compared at each split node of each tree.
    thresholds : (C, T, S) float32 ndarray
    leaves : (C, T, S + 1, 2 * P) float32 ndarray
        Shape increment of each leaf.
    anchors : (C, F) int32 ndarray
        Landmark each feature pixel is anchored to.
    deltas : (C, F, 2) float32 ndarray
        Offset of each feature pixel from its landmark, in mean-shape units.

    Raises
    ------
    OSError
        If the file cannot be read.
    ModelFormatError
        If it is not a dlib shape predictor made of regular trees.
    """

    def __init__(self, path):
        buf = np.fromfile(path, dtype=np.uint8)
        name = os.path.basename(path)
        if buf.size < 16:
            raise ModelFormatError(f"{name}: too short to be a dlib shape predictor")
        empty = np.zeros((0, 0, 0), dtype=np.int32)
        try:
            status, dims, _ = _walk(buf, False, np.zeros(0, np.float32), empty, empty,
                                    np.zeros((0, 0, 0), np.float32), np.zeros((0, 0, 0, 0), np.float32),
                                    np.zeros((0, 0), np.int32), np.zeros((0, 0, 2), np.float32))
        except IndexError:
            status, dims = 4, None
        if status:
            raise ModelFormatError(f"{name}: not a dlib shape predictor of regular trees (code {status})")
        _, n_shape, n_cascades, n_trees, n_splits, n_leaves, _ = (int(d) for d in dims)
        if n_cascades * n_trees * n_leaves * n_shape * 2 > buf.size:  # a float takes 2 bytes or more
            raise ModelFormatError(f"{name}: sizes larger than the file; not a dlib shape predictor")
        self.initial_shape = np.zeros(n_shape, np.float32)
        self.split1 = np.zeros((n_cascades, n_trees, n_splits), np.int32)
        self.split2 = np.zeros_like(self.split1)
        self.thresholds = np.zeros((n_cascades, n_trees, n_splits), np.float32)
        self.leaves = np.zeros((n_cascades, n_trees, n_leaves, n_shape), np.float32)
        # The pixel count is read in the second pass: allocate for the largest plausible.
        anchors = np.zeros((n_cascades, 4096), np.int32)
        deltas = np.zeros((n_cascades, 4096, 2), np.float32)
        try:
            status, dims, end = _walk(buf, True, self.initial_shape, self.split1, self.split2,
                                      self.thresholds, self.leaves, anchors, deltas)
        except IndexError:
            status, end = 4, 0
        if status == 0 and (n_leaves & (n_leaves - 1)):
            status = 3  # the descent assumes complete binary trees
        if status or end != buf.size:
            raise ModelFormatError(f"{name}: not a dlib shape predictor of regular trees (code {status or 5})")
        n_pixels = int(dims[6])
        self.anchors = np.ascontiguousarray(anchors[:, :n_pixels])
        self.deltas = np.ascontiguousarray(deltas[:, :n_pixels])
        if (self.split1.max() >= n_pixels or self.split2.max() >= n_pixels
                or self.anchors.max() >= n_shape // 2 or self.split1.min() < 0 or self.split2.min() < 0):
            raise ModelFormatError(f"{name}: indices out of range")

    @property
    def n_landmarks(self):
        """Number of landmarks (68 for dlib's face model)."""
        return self.initial_shape.size // 2

    def __call__(self, images, box, block=_BLOCK):
        """Landmarks of a batch of grayscale images, all with the same box.

        Parameters
        ----------
        images : (N, H, W) uint8 ndarray
        box : tuple of int
            ``(left, top, right, bottom)``, as ``dlib.rectangle``.
        block : int, optional
            Images taken through the trees together (a speed setting only).

        Returns
        -------
        (N, n_landmarks, 2) float32 ndarray
            Integer ``(x, y)`` pixel positions, exactly as dlib returns them
            (not clipped to the image).
        """
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if images.ndim != 3:
            raise ValueError(f"expected (N, H, W) uint8 images, got shape {images.shape}")
        left, top, right, bottom = (float(v) for v in box)
        out = np.empty((len(images), self.n_landmarks, 2), np.float32)
        _predict_batch(images, left, top, right - left, bottom - top, self.initial_shape, self.split1,
                       self.split2, self.thresholds, self.leaves, self.anchors, self.deltas, out, block)
        return out


# --- evaluation ------------------------------------------------------------------------


@njit(cache=True)
def _similarity(initial, shape):
    """The 2x2 part of the least-squares similarity transform from ``initial``
    to ``shape`` (dlib's ``find_tform_between_shapes``), in float32.

    dlib takes it from an SVD of the cross-covariance (Umeyama); in two
    dimensions that equals the closed form ``[[a, -b], [b, a]]`` used here,
    computed in double precision as dlib does.
    """
    n = initial.size // 2
    mfx = 0.0
    mfy = 0.0
    mtx = 0.0
    mty = 0.0
    for i in range(n):
        mfx += initial[2 * i]
        mfy += initial[2 * i + 1]
        mtx += shape[2 * i]
        mty += shape[2 * i + 1]
    mfx /= n
    mfy /= n
    mtx /= n
    mty /= n
    sigma = 0.0
    c00 = 0.0
    c01 = 0.0
    c10 = 0.0
    c11 = 0.0
    for i in range(n):
        fx = initial[2 * i] - mfx
        fy = initial[2 * i + 1] - mfy
        tx = shape[2 * i] - mtx
        ty = shape[2 * i + 1] - mty
        sigma += fx * fx + fy * fy
        c00 += tx * fx
        c01 += tx * fy
        c10 += ty * fx
        c11 += ty * fy
    if sigma == 0.0:
        return np.float32(1.0), np.float32(0.0)
    a = (c00 + c11) / sigma
    b = (c10 - c01) / sigma
    return np.float32(a), np.float32(b)


@njit(cache=True)
def _round(v):
    """dlib's conversion of a real point to a pixel: round half up."""
    return np.int64(math.floor(v + 0.5))


@njit(cache=True, nogil=True)
def _predict_batch(images, left, top, width, height, initial, split1, split2, thresh, leaves,
                   anchors, deltas, out, block=_BLOCK):
    """Evaluate the cascade on ``images`` into ``out``, ``block`` images at a time.

    Tree-major order: each tree is applied to every image of a block before
    the next tree, so that its leaves stay in cache (images one at a time
    read a different 8 KB leaf table for each of the 7,500 trees). Within a
    cascade level the feature pixels are fixed, so every tree's leaf is found
    first and the leaves are summed after: the sums' memory reads no longer
    wait on the descents, which nearly halves the time of one image. Every
    image still sums its leaves in tree order, in float32, as dlib does.
    """
    n_images, rows, cols = images.shape
    n_cascades, n_trees, n_splits = split1.shape
    n_shape = initial.size
    n_pixels = anchors.shape[1]
    shapes = np.empty((block, n_shape), np.float32)
    values = np.empty((block, n_pixels), np.float32)
    reached = np.empty((block, n_trees), np.int64)
    depth = 0
    while (1 << depth) - 1 < n_splits:
        depth += 1
    for start in range(0, n_images, block):
        stop = min(start + block, n_images)
        for k in range(stop - start):
            shapes[k] = initial
        for c in range(n_cascades):
            for k in range(stop - start):
                image = images[start + k]
                shape = shapes[k]
                a, b = _similarity(initial, shape)
                for p in range(n_pixels):
                    dx = deltas[c, p, 0]
                    dy = deltas[c, p, 1]
                    j = anchors[c, p]
                    # float32, as dlib: tform * delta + location(current_shape, anchor)
                    u = (a * dx - b * dy) + shape[2 * j]
                    v = (b * dx + a * dy) + shape[2 * j + 1]
                    x = _round(left + width * np.float64(u))
                    y = _round(top + height * np.float64(v))
                    if 0 <= x < cols and 0 <= y < rows:
                        values[k, p] = image[y, x]
                    else:
                        values[k, p] = 0.0
            for t in range(n_trees):  # every descent of the level first (independent of the sums)
                s1 = split1[c, t]
                s2 = split2[c, t]
                th = thresh[c, t]
                for k in range(stop - start):
                    node = 0
                    for _ in range(depth):  # branch-free: the left child when the test holds
                        go_right = values[k, s1[node]] - values[k, s2[node]] <= th[node]
                        node = 2 * node + 1 + np.int64(go_right)
                    reached[k, t] = node - n_splits
            for t in range(n_trees):  # then the sums, in tree order
                for k in range(stop - start):
                    leaf = leaves[c, t, reached[k, t]]
                    row = shapes[k]
                    for m in range(n_shape):
                        row[m] += leaf[m]
        for k in range(stop - start):
            for i in range(n_shape // 2):
                out[start + k, i, 0] = _round(left + width * np.float64(shapes[k, 2 * i]))
                out[start + k, i, 1] = _round(top + height * np.float64(shapes[k, 2 * i + 1]))
