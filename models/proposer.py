"""Face proposals by MediaPipe's BlazeFace, confirmed by HOG: a fast first look at photos.

dlib's HOG detector searches a whole 640x480 photo in about 12 ms; MediaPipe's
full-range BlazeFace network looks at it shrunk to 192x192 in about 2 ms
(LiteRT, one thread), and HOG then searches only a small region around each
face it proposes (about 1 ms a face). The faces returned are HOG's boxes,
so the crops, landmarks and features are those the usual search gives; a
proposal HOG does not confirm sends the photo to the usual search, which also
runs where BlazeFace proposes nothing. The model file ships with the package
(``models/detectors``; Apache License 2.0) and nothing is downloaded.

What it costs: a face BlazeFace misses is lost when it proposes another face
in the same photo (BENCHMARKS.md, "Face proposals"), which is why the
proposer is off unless asked for (``--proposer blazeface``).
"""

import hashlib
import os
import threading
import warnings
from functools import lru_cache

import cv2
import numpy as np

from ..features.faces import box_iou, confirm_faces
from ..features.landmarks import MissingModelError
from ..features.util import quiet_stderr
from ..parameters import VIDEO

from .fast import _interpreter_class

#: The network file, its input side and its anchor grid's stride (one anchor a cell).
MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "detectors", "face_detection_full_range.tflite")
#: Its SHA-256 (models/detectors/README.md): LiteRT does not verify a model file, and a damaged one
#: can crash the process instead of raising, so the bytes are checked before an interpreter sees them.
MODEL_SHA256 = "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"
INPUT_SIDE = 192
STRIDE = 4
#: Face proposers by name (``--proposer``).
PROPOSERS = ("none", "blazeface")


def anchor_centres(side=INPUT_SIDE, stride=STRIDE):
    """Anchor centres ``(x, y)`` in fractions of the input, in the network's output order.

    Returns
    -------
    (N, 2) float32 ndarray
        Row-major over the ``side / stride`` square grid, cell centres.
    """
    grid = side // stride
    yy, xx = np.mgrid[0:grid, 0:grid]
    return np.stack([(xx + 0.5) / grid, (yy + 0.5) / grid], -1).reshape(-1, 2).astype(np.float32)


def letterbox(gray, side=INPUT_SIDE):
    """A grey image shrunk (or enlarged) to fit a black ``side`` square, as the network's input.

    Returns
    -------
    x : (1, side, side, 3) float32 ndarray
        Grey replicated to RGB, scaled to [-1, 1].
    scale : float
        Input pixels per image pixel.
    x0, y0 : int
        Where the image starts in the square.
    """
    h, w = gray.shape
    scale = side / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(gray, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    square = np.zeros((side, side), np.uint8)
    y0, x0 = (side - nh) // 2, (side - nw) // 2
    square[y0 : y0 + nh, x0 : x0 + nw] = small
    x = square.astype(np.float32) / 127.5 - 1.0
    return np.repeat(x[None, :, :, None], 3, axis=3), scale, x0, y0


def non_max_suppression(boxes, scores, iou=VIDEO.proposer_nms_iou):
    """Indices of the boxes kept, surest first: each drops those overlapping it by more than ``iou``."""
    keep = []
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        if all(box_iou(boxes[i], boxes[j]) <= iou for j in keep):
            keep.append(int(i))
    return keep


class BlazeFace:
    """MediaPipe's full-range BlazeFace face detector, run by LiteRT.

    Each thread gets its own interpreter (one is not safe to share), made on
    its first call; a forked child makes its own too.

    Parameters
    ----------
    path : str, optional
        The ``.tflite`` file (default: the one shipped in ``models/detectors``).
    sha256 : str or None, optional
        The file's expected SHA-256 (default: the shipped file's); None: not checked.

    Raises
    ------
    MissingModelError
        The file is missing, or its bytes are not the expected ones.
    """

    def __init__(self, path=MODEL, sha256=MODEL_SHA256):
        if not os.path.isfile(path):
            raise MissingModelError(f"the BlazeFace model is missing from {path}: reinstall the package")
        with open(path, "rb") as f:
            self._content = f.read()
        if sha256 is not None and hashlib.sha256(self._content).hexdigest() != sha256:
            raise MissingModelError(f"{path}: damaged (its SHA-256 is not the shipped model's): reinstall the package")
        self.path = path
        self.anchors = anchor_centres()
        self._local = threading.local()

    def _interpreter(self):
        """This thread's interpreter with its input, box and score indices."""
        state = getattr(self._local, "state", None)
        if state is None or state[0] != os.getpid():
            try:
                with warnings.catch_warnings(), quiet_stderr():  # TensorFlow's interpreter warns it is deprecated
                    warnings.simplefilter("ignore")
                    interpreter = _interpreter_class()(model_content=self._content, num_threads=1)
                    interpreter.allocate_tensors()
                boxes, scores = sorted(interpreter.get_output_details(), key=lambda d: -d["shape"][-1])
            except (ValueError, RuntimeError) as e:  # a damaged file, or a model with other outputs
                raise MissingModelError(f"{self.path}: not a readable BlazeFace model ({str(e)[:100]}): "
                                        "reinstall the package") from None
            if scores["shape"][1] != len(self.anchors):
                raise MissingModelError(f"{self.path}: not the full-range BlazeFace model "
                                        f"({scores['shape'][1]} anchors, expected {len(self.anchors)})")
            state = (os.getpid(), interpreter, interpreter.get_input_details()[0]["index"], boxes["index"],
                     scores["index"])
            self._local.state = state
        return state[1:]

    def __call__(self, gray, min_score=VIDEO.proposer_min_score):
        """Faces proposed in a grey image.

        Parameters
        ----------
        gray : (H, W) uint8 ndarray
        min_score : float, optional
            Proposals scoring less are dropped.

        Returns
        -------
        list of ((x, y, w, h), float)
            Boxes in the pixels of ``gray`` with their scores, surest first,
            overlapping ones merged into the surest (``VIDEO.proposer_nms_iou``).
        """
        interpreter, inp, box_index, score_index = self._interpreter()
        x, scale, x0, y0 = letterbox(gray)
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        scores = 1.0 / (1.0 + np.exp(-np.clip(interpreter.get_tensor(score_index)[0, :, 0], -80.0, 80.0)))
        hits = np.flatnonzero(scores >= min_score)
        if not len(hits):
            return []
        raw = interpreter.get_tensor(box_index)[0, hits, :4] / INPUT_SIDE  # centre offsets and size, input fractions
        cx, cy = raw[:, 0] + self.anchors[hits, 0], raw[:, 1] + self.anchors[hits, 1]
        boxes = np.stack([(cx - raw[:, 2] / 2) * INPUT_SIDE - x0, (cy - raw[:, 3] / 2) * INPUT_SIDE - y0,
                          raw[:, 2] * INPUT_SIDE, raw[:, 3] * INPUT_SIDE], 1) / scale
        boxes = [tuple(float(v) for v in b) for b in boxes]
        return [(boxes[i], float(scores[hits[i]])) for i in non_max_suppression(boxes, scores[hits])]


@lru_cache(maxsize=1)
def blazeface():
    """The process's :class:`BlazeFace` (made on first use)."""
    return BlazeFace()


def propose_faces(gray, proposer=None, score=VIDEO.proposer_score, min_score=VIDEO.proposer_min_score,
                  max_faces=VIDEO.proposer_max_faces):
    """The faces of a photo when the proposer's are all confirmed by HOG, else an empty list.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    proposer : callable, optional
        ``proposer(gray, min_score)`` as :meth:`BlazeFace.__call__` (default:
        :func:`blazeface`).
    score : float, optional
        At least one proposal must score this much.
    min_score : float, optional
        Every proposal scoring this much must be confirmed.
    max_faces : int, optional
        More proposals than this: search as usual.

    Returns
    -------
    list of (x, y, w, h)
        HOG's boxes of the proposed faces, largest first, in the pixels of
        ``gray``; empty when the caller should search the photo as usual.
    """
    candidates = (proposer or blazeface())(gray, min_score)
    if not candidates or candidates[0][1] < score or len(candidates) > max_faces:
        return []
    return confirm_faces(gray, [box for box, _ in candidates])
