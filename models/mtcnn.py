"""Small faces by MTCNN: the second look of group photos.

dlib's HOG detector finds faces from about 80 pixels at a photo's size, and
the photo search stops at the first look that finds a face, so the smaller
faces of a group photo were lost beside a larger one (BENCHMARKS.md, "Group
photos"). MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment using
Multi-task Cascaded Convolutional Networks") finds faces from 12 pixels at
the scale it looks at: a fully convolutional proposal network (P-Net) over an
image pyramid, then two networks that check and refine each proposal on
24x24 (R-Net) and 48x48 (O-Net) crops. On the group scenes of
``benchmarks/group_looks.py`` it finds most of the faces HOG misses, and
reports no face in face-free scenes.

The weights are those shipped inside the ``mtcnn`` 1.0.0 wheel on PyPI (MIT
License), stored once as a plain ``.npz`` in ``models/detectors`` (no pickle
is read; the file's SHA-256 is checked before it is opened), and nothing is
downloaded. The networks run as TensorFlow graphs written here; the images
are grey, so each network's first convolution takes one channel (its kernel
summed over the three colour channels: the same result as grey replicated to
RGB).
"""

import hashlib
import os
import threading
from functools import lru_cache

import cv2
import numpy as np

from ..features import faces
from ..features.faces import box_iou
from ..features.landmarks import MissingModelError
from ..parameters import VIDEO

#: The weights file and its SHA-256 (models/detectors/README.md).
MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "detectors", "mtcnn.npz")
MODEL_SHA256 = "7cf6a20223e97e801ec44c028b0fc83a50b6465c301e7d373bb2eadce6dcc699"
#: The number of arrays of each network in the file (kernels, biases, PReLU slopes, in layer order).
ARRAYS = {"pnet": 13, "rnet": 16, "onet": 21}
#: P-Net's window and stride at the scale it looks at.
CELL, STRIDE = 12, 2


def load_weights(path=MODEL, sha256=MODEL_SHA256):
    """The three networks' arrays from the shipped file.

    Returns
    -------
    dict of str to list of float32 ndarray
        ``{"pnet": [...], "rnet": [...], "onet": [...]}`` in layer order, the
        first kernel of each reduced to one input channel (grey).

    Raises
    ------
    MissingModelError
        The file is missing, damaged, or not these networks' arrays.
    """
    if not os.path.isfile(path):
        raise MissingModelError(f"the MTCNN weights are missing from {path}: reinstall the package")
    with open(path, "rb") as f:
        content = f.read()
    if sha256 is not None and hashlib.sha256(content).hexdigest() != sha256:
        raise MissingModelError(f"{path}: damaged (its SHA-256 is not the shipped file's): reinstall the package")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            weights = {net: [np.asarray(arrays[f"{net}_{i:02d}"], np.float32) for i in range(count)]
                       for net, count in ARRAYS.items()}
    except (KeyError, ValueError, OSError) as e:
        raise MissingModelError(f"{path}: not the MTCNN weights ({str(e)[:100]}): reinstall the package") from None
    for net in weights.values():
        net[0] = net[0].sum(axis=2, keepdims=True)
    return weights


def _prelu(x, alpha):
    import tensorflow as tf

    return tf.nn.relu(x) - alpha * tf.nn.relu(-x)


def _conv_block(x, kernel, bias, alpha):
    import tensorflow as tf

    return _prelu(tf.nn.conv2d(x, kernel, 1, "VALID") + bias, alpha)


def _flatten_transposed(x):
    """Width before height, as the networks were trained (their fully connected layers expect it)."""
    import tensorflow as tf

    x = tf.transpose(x, [0, 2, 1, 3])
    return tf.reshape(x, [tf.shape(x)[0], x.shape[1] * x.shape[2] * x.shape[3]])


def _networks(weights):
    """The three networks as graph functions of grey batches in [-1, 1]."""
    import tensorflow as tf

    p, r, o = (list(map(tf.constant, weights[n])) for n in ("pnet", "rnet", "onet"))
    grey = tf.TensorSpec([None, None, None, 1], tf.float32)

    @tf.function(input_signature=[grey])
    def pnet(x):
        x = _conv_block(x, *p[0:3])
        x = tf.nn.max_pool2d(x, 2, 2, "SAME")
        x = _conv_block(_conv_block(x, *p[3:6]), *p[6:9])
        offsets = tf.nn.conv2d(x, p[9], 1, "VALID") + p[10]
        return offsets, tf.nn.softmax(tf.nn.conv2d(x, p[11], 1, "VALID") + p[12])[..., 1]

    @tf.function(input_signature=[tf.TensorSpec([None, 24, 24, 1], tf.float32)])
    def rnet(x):
        x = tf.nn.max_pool2d(_conv_block(x, *r[0:3]), 3, 2, "SAME")
        x = tf.nn.max_pool2d(_conv_block(x, *r[3:6]), 3, 2, "VALID")
        x = _prelu(tf.matmul(_flatten_transposed(_conv_block(x, *r[6:9])), r[9]) + r[10], r[11])
        return tf.matmul(x, r[12]) + r[13], tf.nn.softmax(tf.matmul(x, r[14]) + r[15])[:, 1]

    @tf.function(input_signature=[tf.TensorSpec([None, 48, 48, 1], tf.float32)])
    def onet(x):
        x = tf.nn.max_pool2d(_conv_block(x, *o[0:3]), 3, 2, "SAME")
        x = tf.nn.max_pool2d(_conv_block(x, *o[3:6]), 3, 2, "VALID")
        x = tf.nn.max_pool2d(_conv_block(x, *o[6:9]), 2, 2, "SAME")
        x = _prelu(tf.matmul(_flatten_transposed(_conv_block(x, *o[9:12])), o[12]) + o[13], o[14])
        return tf.matmul(x, o[15]) + o[16], tf.nn.softmax(tf.matmul(x, o[19]) + o[20])[:, 1]

    return pnet, rnet, onet


def nms(corners, scores, iou, by="union"):
    """Indices of the boxes kept, best score first: each drops the later ones it overlaps by more than ``iou``.

    Parameters
    ----------
    corners : (N, 4) ndarray
        ``x1, y1, x2, y2`` per box.
    scores : (N,) ndarray
    iou : float
    by : {"union", "min"}
        The overlap's denominator: the union of the two boxes, or the smaller box.

    Returns
    -------
    (K,) int ndarray
    """
    x1, y1, x2, y2 = corners.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order, keep = np.argsort(-scores, kind="stable"), []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        denominator = np.minimum(areas[i], areas[rest]) if by == "min" else areas[i] + areas[rest] - inter
        order = rest[inter / denominator <= iou]
    return np.asarray(keep, int)


def _square(corners):
    """Boxes made square about their centres, on their longer sides."""
    side = np.maximum(corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1])
    cx, cy = (corners[:, 0] + corners[:, 2]) / 2, (corners[:, 1] + corners[:, 3]) / 2
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], 1)


def _refined(corners, offsets):
    """Boxes moved by a network's offsets, in fractions of their sides."""
    sides = np.stack([corners[:, 2] - corners[:, 0] + 1, corners[:, 3] - corners[:, 1] + 1] * 2, 1)
    return corners + offsets * sides


class MTCNN:
    """The MTCNN face detector on grey images.

    Parameters
    ----------
    path : str, optional
        The weights file (default: the one shipped in ``models/detectors``).
    sha256 : str or None, optional
        Its expected SHA-256 (default: the shipped file's); None: not checked.

    Raises
    ------
    MissingModelError
        The file is missing, damaged, or not these networks' arrays.
    """

    def __init__(self, path=MODEL, sha256=MODEL_SHA256):
        self._weights = load_weights(path, sha256)
        self._nets = None
        self._lock = threading.Lock()

    def _networks(self):
        with self._lock:  # built once, on first use (TensorFlow's import is slow)
            if self._nets is None:
                self._nets = _networks(self._weights)
        return self._nets

    def warm_up(self):
        """Build the three graphs now (a second or so), so that the first photo does not wait for them."""
        pnet, rnet, onet = self._networks()
        pnet(np.zeros((1, CELL, CELL, 1), np.float32))
        rnet(np.zeros((1, 24, 24, 1), np.float32))
        onet(np.zeros((1, 48, 48, 1), np.float32))

    @staticmethod
    def _crops(image, corners, side):
        """Each box cut from the image (outside it: 0, mid-grey) and resized to ``side``, as a batch."""
        import tensorflow as tf

        h, w = image.shape
        normalised = corners[:, [1, 0, 3, 2]] / np.array([h, w, h, w], np.float32)
        return tf.image.crop_and_resize(image[None, :, :, None], normalised.astype(np.float32),
                                        np.zeros(len(corners), np.int32), (side, side))

    def __call__(self, gray, min_face=VIDEO.group_min_face, max_face=0,
                 thresholds=(VIDEO.mtcnn_pnet_score, VIDEO.mtcnn_rnet_score, VIDEO.mtcnn_onet_score)):
        """Faces in a grey image.

        Parameters
        ----------
        gray : (H, W) uint8 ndarray
        min_face : int, optional
            The smallest face looked for, in pixels (the pyramid's finest scale
            makes it P-Net's 12-pixel window).
        max_face : int, optional
            The largest face looked for (0: up to the image's shorter side); the
            coarser scales are skipped.
        thresholds : (float, float, float), optional
            The face scores that P-Net, R-Net and O-Net must each exceed.

        Returns
        -------
        list of ((x, y, w, h), float)
            Boxes in the pixels of ``gray`` with O-Net's scores, surest first.
        """
        pnet, rnet, onet = self._networks()
        image = (gray.astype(np.float32) - 127.5) / 128.0
        h, w = gray.shape
        found = []
        scale = CELL / min_face
        while min(h, w) * scale >= CELL and (not max_face or CELL / scale <= max_face * 1.5):
            size = (max(CELL, int(np.ceil(w * scale))), max(CELL, int(np.ceil(h * scale))))
            offsets, scores = pnet(cv2.resize(image, size, interpolation=cv2.INTER_AREA)[None, :, :, None])
            scores = scores.numpy()[0]
            ys, xs = np.nonzero(scores > thresholds[0])
            if len(ys):
                cells = np.stack([xs, ys, xs, ys], 1) * STRIDE + np.array([0, 0, CELL, CELL])
                corners = (cells + offsets.numpy()[0, ys, xs] * CELL) / scale
                hits = scores[ys, xs]
                keep = nms(corners, hits, 0.5)
                found.append((corners[keep], hits[keep]))
            scale *= 0.709
        if not found:
            return []
        corners, scores = (np.concatenate(parts) for parts in zip(*found))
        corners = _square(corners[nms(corners, scores, 0.7)])
        for net, side, threshold, by in ((rnet, 24, thresholds[1], "union"), (onet, 48, thresholds[2], "min")):
            offsets, scores = (t.numpy() for t in net(self._crops(image, corners, side)))
            sure = scores > threshold
            corners, scores = _refined(corners[sure], offsets[sure]), scores[sure]
            if not len(corners):
                return []
            keep = nms(corners, scores, 0.7, by)
            corners, scores = corners[keep], scores[keep]
            if net is rnet:
                corners = _square(corners)
        return [((float(x1), float(y1), float(x2 - x1), float(y2 - y1)), float(s))
                for (x1, y1, x2, y2), s in zip(corners, scores)]


@lru_cache(maxsize=1)
def mtcnn():
    """The process's :class:`MTCNN` (made on first use)."""
    return MTCNN()


def as_hog_box(x, y, w, h):
    """An MTCNN box as the HOG detector would frame the same face (``VIDEO.mtcnn_box_*``, measured by
    ``benchmarks/group_looks.py --calibrate``; :func:`features.faces.as_hog_box`)."""
    return faces.as_hog_box(x, y, w, h, VIDEO.mtcnn_box_scale, VIDEO.mtcnn_box_shift_x, VIDEO.mtcnn_box_shift_y)


def more_faces(gray, found, detector=None, min_ratio=VIDEO.group_min_ratio, max_ratio=VIDEO.group_max_ratio,
               min_face=VIDEO.group_min_face):
    """The faces MTCNN finds beside those already ``found``: the second look of group photos.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    found : sequence of (x, y, w, h)
        The faces the photo search found, in the pixels of ``gray``.
    detector : callable, optional
        ``detector(gray, min_face, max_face)`` as :meth:`MTCNN.__call__` (default: :func:`mtcnn`).
    min_ratio, max_ratio : float, optional
        The faces looked for, from ``min_ratio`` to ``max_ratio`` times the largest found.
    min_face : int, optional
        And at least this many pixels.

    Returns
    -------
    list of (x, y, w, h)
        Those faces in HOG's geometry, none overlapping a found face (nor one
        another) or centred inside one.
    """
    largest = max(max(b[2], b[3]) for b in found)
    kept = list(found)
    smallest, limit = max(min_face, min_ratio * largest), max_ratio * largest
    for box, _ in (detector or mtcnn())(gray, smallest, limit):
        box = as_hog_box(*box)
        if box[2] > limit:
            continue
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        if all(box_iou(box, k) <= 0.3 and not (k[0] <= cx <= k[0] + k[2] and k[1] <= cy <= k[1] + k[3])
               for k in kept):
            kept.append(box)
    return kept[len(found):]
