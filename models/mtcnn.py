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
downloaded. The networks are written here as TensorFlow graphs; the images
are grey, so each network's first convolution takes one channel (its kernel
summed over the three colour channels: the same result as grey replicated to
RGB). They run on LiteRT (converted once and cached as :mod:`models.fast`
caches the classifier), which takes a third of TensorFlow's time on these
small networks (BENCHMARKS.md, "Group photos by MTCNN"); TensorFlow's graphs
run them where LiteRT cannot.
"""

import hashlib
import os
import threading
import warnings
from collections import OrderedDict
from functools import lru_cache

import cv2
import numpy as np

from ..features import faces
from ..features.faces import box_iou
from ..features.landmarks import MissingModelError
from ..features.util import quiet_stderr
from ..parameters import VIDEO

from .backend import import_tensorflow
from .fast import _interpreter_class, cached_flatbuffer

#: The weights file and its SHA-256 (models/detectors/README.md).
MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "detectors", "mtcnn.npz")
MODEL_SHA256 = "7cf6a20223e97e801ec44c028b0fc83a50b6465c301e7d373bb2eadce6dcc699"
#: The number of arrays of each network in the file (kernels, biases, PReLU slopes, in layer order).
ARRAYS = {"pnet": 13, "rnet": 16, "onet": 21}
#: P-Net's window and stride at the scale it looks at.
CELL, STRIDE = 12, 2
#: P-Net interpreters kept per thread, one per image size of the pyramid (made in ~1-15 ms each).
PNET_SIZES_KEPT = 32


def load_weights(path=MODEL, sha256=MODEL_SHA256):
    """The three networks' arrays from the shipped file.

    Returns
    -------
    dict
        ``{"pnet": [...], "rnet": [...], "onet": [...]}``: float32 arrays in
        layer order, the first kernel of each reduced to one input channel
        (grey); and ``"sha256"``, the file's hash.

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
    weights["sha256"] = hashlib.sha256(content).hexdigest()
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


def crops(image, corners, side):
    """Each box cut from the image and resized to ``side`` pixels, as a batch.

    Bilinear, sampled as ``tf.image.crop_and_resize`` samples boxes given as
    fractions of the image's sides (the first and last samples on the box's
    edges, scaled by ``(size - 1) / size``); a sample outside the image is 0
    (mid-grey).

    Parameters
    ----------
    image : (H, W) float32 ndarray
    corners : (N, 4) ndarray
        ``x1, y1, x2, y2`` per box, in pixels.
    side : int

    Returns
    -------
    (N, side, side, 1) float32 ndarray
    """
    h, w = image.shape
    steps = np.arange(side, dtype=np.float32) / np.float32(side - 1)
    corners = corners.astype(np.float32)

    def samples(start, end, size):
        """Sample positions along one axis, their two neighbours and weights, and which fall inside."""
        scale = np.float32((size - 1) / size)
        at = start[:, None] * scale + steps[None, :] * ((end - start) * scale)[:, None]
        inside = (at >= 0) & (at <= size - 1)
        low = np.clip(np.floor(at), 0, size - 1).astype(np.intp)
        return low, np.minimum(low + 1, size - 1), (at - low).astype(np.float32), inside

    y0, y1, wy, in_y = samples(corners[:, 1], corners[:, 3], h)
    x0, x1, wx, in_x = samples(corners[:, 0], corners[:, 2], w)
    y0, y1, wy, in_y = y0[:, :, None], y1[:, :, None], wy[:, :, None], in_y[:, :, None]
    x0, x1, wx, in_x = x0[:, None, :], x1[:, None, :], wx[:, None, :], in_x[:, None, :]
    top = image[y0, x0] + (image[y0, x1] - image[y0, x0]) * wx
    bottom = image[y1, x0] + (image[y1, x1] - image[y1, x0]) * wx
    return np.where(in_y & in_x, top + (bottom - top) * wy, np.float32(0))[..., None]


def _litert_networks(weights, cache_dir=None):
    """The three networks' LiteRT flatbuffers: from the cache, or converted from :func:`_networks`' graphs."""
    tf = import_tensorflow()
    graphs = {}

    def convert(name):
        if not graphs:
            graphs.update(zip(("pnet", "rnet", "onet"), _networks(weights)))
        converter = tf.lite.TFLiteConverter.from_concrete_functions([graphs[name].get_concrete_function()],
                                                                    graphs[name])
        with warnings.catch_warnings(), quiet_stderr():
            warnings.simplefilter("ignore")
            return converter.convert()

    return {name: cached_flatbuffer(f"mtcnn-{name}-{weights['sha256'][:32]}-tf{tf.__version__}.tflite",
                                    lambda name=name: convert(name), cache_dir)
            for name in ("pnet", "rnet", "onet")}


class _Interpreters(threading.local):
    """One thread's LiteRT interpreters of the three networks: P-Net's one per
    input size (the last :data:`PNET_SIZES_KEPT` sizes of the pyramid), R-Net's
    and O-Net's one each, resized to each batch (cheap for them)."""

    def __init__(self, flatbuffers, threads):
        self.flatbuffers, self.threads = flatbuffers, threads
        self.pnets, self.others = OrderedDict(), {}

    def _make(self, name):
        """A new interpreter of a network, with its input's index and its outputs' in the graph's order."""
        with warnings.catch_warnings(), quiet_stderr():  # LiteRT announces XNNPACK on stderr
            warnings.simplefilter("ignore")
            interpreter = _interpreter_class()(model_content=self.flatbuffers[name], num_threads=self.threads)
        outputs = sorted(interpreter.get_output_details(), key=lambda d: -len(d["shape"]))  # offsets first
        return [interpreter, interpreter.get_input_details()[0]["index"], [d["index"] for d in outputs], None]

    def run(self, name, batch):
        """``(offsets, scores)`` of a network on a batch, as its graph returns them."""
        if name == "pnet":
            if batch.shape not in self.pnets:
                self.pnets[batch.shape] = self._make(name)
                if len(self.pnets) > PNET_SIZES_KEPT:
                    self.pnets.popitem(last=False)
            self.pnets.move_to_end(batch.shape)
            entry = self.pnets[batch.shape]
        else:
            entry = self.others.get(name) or self.others.setdefault(name, self._make(name))
        interpreter, index, outputs, shape = entry
        if shape != batch.shape:
            with quiet_stderr():  # XNNPACK announces itself when the tensors are first allocated
                interpreter.resize_tensor_input(index, batch.shape, strict=False)
                interpreter.allocate_tensors()
            entry[3] = batch.shape
        interpreter.set_tensor(index, np.ascontiguousarray(batch, np.float32))
        interpreter.invoke()
        return tuple(interpreter.get_tensor(i).copy() for i in outputs)


class MTCNN:
    """The MTCNN face detector on grey images.

    Parameters
    ----------
    path : str, optional
        The weights file (default: the one shipped in ``models/detectors``).
    sha256 : str or None, optional
        Its expected SHA-256 (default: the shipped file's); None: not checked.
    litert : bool, optional
        Run the networks on LiteRT (converted on first use and cached in
        ``cache_dir``); False, or where LiteRT fails: on TensorFlow's graphs.
    cache_dir : str, optional
        Where the converted networks are kept (default: ``user_cache_dir("litert")``).
    threads : int, optional
        LiteRT's threads per call (0: one per core).

    Raises
    ------
    MissingModelError
        The file is missing, damaged, or not these networks' arrays.
    """

    def __init__(self, path=MODEL, sha256=MODEL_SHA256, litert=VIDEO.mtcnn_litert, cache_dir=None, threads=0):
        self._weights = load_weights(path, sha256)
        self.litert, self.cache_dir = litert, cache_dir
        self.threads = threads or os.cpu_count() or 1
        self._graphs = self._interpreters = None
        self._failed = None
        self._lock = threading.Lock()

    @property
    def backend(self):
        """``"litert"`` or ``"tensorflow"``: what the networks run on (known after the first call)."""
        return "litert" if self.litert and self._failed is None else "tensorflow"

    def _networks(self):
        """The three networks' TensorFlow graph functions (built on first use)."""
        with self._lock:  # TensorFlow's import is slow
            if self._graphs is None:
                self._graphs = _networks(self._weights)
        return self._graphs

    def _run(self, name, batch):
        """``(offsets, scores)`` as numpy arrays: a network on a batch, on LiteRT where it works."""
        if self.backend == "litert":
            try:
                with self._lock:
                    if self._interpreters is None:
                        self._interpreters = _Interpreters(_litert_networks(self._weights, self.cache_dir),
                                                           self.threads)
                return self._interpreters.run(name, batch)
            except Exception as e:  # conversion or runtime trouble: TensorFlow's graphs still work
                self._failed = f"{type(e).__name__}: {str(e)[:200]}"
        graph = dict(zip(("pnet", "rnet", "onet"), self._networks()))[name]
        return tuple(t.numpy() for t in graph(batch))

    def warm_up(self):
        """Make the networks now (a second or so, once per machine for the conversion to LiteRT),
        so that the first photo does not wait for them."""
        self._run("pnet", np.zeros((1, CELL, CELL, 1), np.float32))
        self._run("rnet", np.zeros((1, 24, 24, 1), np.float32))
        self._run("onet", np.zeros((1, 48, 48, 1), np.float32))

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
        image = (gray.astype(np.float32) - 127.5) / 128.0
        h, w = gray.shape
        found = []
        scale = CELL / min_face
        while min(h, w) * scale >= CELL and (not max_face or CELL / scale <= max_face * 1.5):
            size = (max(CELL, int(np.ceil(w * scale))), max(CELL, int(np.ceil(h * scale))))
            offsets, scores = self._run("pnet", cv2.resize(image, size, interpolation=cv2.INTER_AREA)[None, :, :, None])
            scores = scores[0]
            ys, xs = np.nonzero(scores > thresholds[0])
            if len(ys):
                cells = np.stack([xs, ys, xs, ys], 1) * STRIDE + np.array([0, 0, CELL, CELL])
                corners = (cells + offsets[0, ys, xs] * CELL) / scale
                hits = scores[ys, xs]
                keep = nms(corners, hits, 0.5)
                found.append((corners[keep], hits[keep]))
            scale *= 0.709
        if not found:
            return []
        corners, scores = (np.concatenate(parts) for parts in zip(*found))
        corners = _square(corners[nms(corners, scores, 0.7)])
        for net, side, threshold, by in (("rnet", 24, thresholds[1], "union"), ("onet", 48, thresholds[2], "min")):
            offsets, scores = self._run(net, crops(image, corners, side))
            sure = scores > threshold
            corners, scores = _refined(corners[sure], offsets[sure]), scores[sure]
            if not len(corners):
                return []
            keep = nms(corners, scores, 0.7, by)
            corners, scores = corners[keep], scores[keep]
            if net == "rnet":
                corners = _square(corners)
        return [((float(x1), float(y1), float(x2 - x1), float(y2 - y1)), float(s))
                for (x1, y1, x2, y2), s in zip(corners, scores)]


@lru_cache(maxsize=None)
def mtcnn(threads=0):
    """The process's :class:`MTCNN` with ``threads`` LiteRT threads (made on first use)."""
    return MTCNN(threads=threads)


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
        The faces the photo search found, in the pixels of ``gray`` (none:
        every face from ``min_face`` pixels up).
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
    largest = max((max(b[2], b[3]) for b in found), default=0)
    kept = list(found)
    smallest = max(min_face, min_ratio * largest)
    limit = max_ratio * largest if found else max(gray.shape)
    for box, _ in (detector or mtcnn())(gray, smallest, limit):
        box = as_hog_box(*box)
        if box[2] > limit:
            continue
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        if all(box_iou(box, k) <= 0.3 and not (k[0] <= cx <= k[0] + k[2] and k[1] <= cy <= k[1] + k[3])
               for k in kept):
            kept.append(box)
    return kept[len(found):]


def look_beside(gray, submit, min_face=VIDEO.group_min_face, threads=VIDEO.group_look_threads):
    """Start the group look on a whole photo now, beside the photo search.

    dlib's HOG search holds one core; MTCNN looks for every face from
    ``min_face`` pixels up on another meanwhile (``submit``'s thread), and
    the hook returned keeps, as :func:`more_faces`, those in the size range
    of the faces the search found; called with no face found (where HOG's
    first look finds none, ``VIDEO.group_look_before_retry``), all of them.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    submit : callable
        ``submit(fn, *args)`` returns a future (a ``ThreadPoolExecutor``'s ``submit``).
    min_face : int, optional
    threads : int, optional
        MTCNN's LiteRT threads.

    Returns
    -------
    more : callable
        ``more(gray, found)`` as :func:`more_faces` (``features.faces.detect_faces``' hook).
    future : concurrent.futures.Future
        MTCNN's look (cancel it where the search found no face).
    """
    future = submit(mtcnn(threads), gray, min_face, 0)

    def detector(_, smallest, limit):
        """MTCNN's faces at least ``smallest`` pixels once framed as HOG frames them."""
        return [(box, score) for box, score in future.result() if as_hog_box(*box)[2] >= smallest]

    return (lambda image, found: more_faces(image, found, detector)), future


def coarse_faces(gray, side, detector=None, smallest=VIDEO.video_mtcnn_smallest):
    """MTCNN's faces on a frame shrunk to ``side``: video's coarse look.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    side : int
        The longer side the frame is shrunk to.
    detector : callable, optional
        As :func:`more_faces`' (default: :func:`mtcnn`).
    smallest : float, optional
        The smallest face looked for, as a fraction of the frame's longer side.

    Returns
    -------
    list of (x, y, w, h)
        Boxes in the pixels of ``gray``, framed as HOG frames faces
        (``features.faces.detect_faces``' ``coarse`` hook refines them by HOG).
    """
    k = side / max(gray.shape)
    small = cv2.resize(gray, (max(1, round(gray.shape[1] * k)), max(1, round(gray.shape[0] * k))),
                       interpolation=cv2.INTER_AREA)
    found = (detector or mtcnn())(small, max(CELL, smallest * side), 0)
    return [as_hog_box(*(v / k for v in box)) for box, _ in found]
