"""Face detection and FER-2013-style face crops for prediction.

Faces are found on the full image (shrunk for detection when large, boxes
returned in original pixels), then each is cropped with the framing measured
on FER-2013 (``benchmarks/face_margin.py``), converted to grey and resized to
48x48, ready for :meth:`features.spec.FeatureSpec.extract`.
"""

import os
import threading

import cv2
import numpy as np

from ..parameters import FEATURES, VIDEO
from . import yunet
from .landmarks import centre_and_spread


class ImageError(Exception):
    """An unreadable or unusable image (one line)."""


def to_uint8(image):
    """An image array scaled to 8 bits.

    16-bit integers are scaled from 0..65535 (as are wider integers whose
    values exceed 255), floats from 0..1 when they stay within it; other
    values are rounded and clipped to 0..255.

    Parameters
    ----------
    image : ndarray

    Returns
    -------
    uint8 ndarray
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if np.issubdtype(image.dtype, np.integer):
        sixteen_bit = image.dtype == np.uint16
        if sixteen_bit or (image.size and image.max() > 255):
            return ((np.clip(image, 0, 65535).astype(np.uint32) + 128) // 257).astype(np.uint8)
        return np.clip(image, 0, 255).astype(np.uint8)
    image = image.astype(np.float64)
    if image.size and np.nanmax(image) <= 1.0:
        image = image * 255.0
    return np.clip(np.rint(np.nan_to_num(image)), 0, 255).astype(np.uint8)


def to_gray(image):
    """8-bit grey image from a grey, BGR, BGRA (as OpenCV reads) array.

    Parameters
    ----------
    image : (H, W) or (H, W, 3|4) ndarray
        Colour arrays are taken as BGR(A), the order OpenCV uses; convert RGB
        input first (see :func:`models.recognizer.load_image`).

    Returns
    -------
    (H, W) uint8 ndarray
    """
    image = to_uint8(image)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ImageError(f"unsupported image shape {image.shape}")


_local = threading.local()


def _dlib_detector():
    """dlib's frontal face detector, one per thread (concurrent calls on one
    detector crash the process)."""
    detector = getattr(_local, "dlib_detector", None)
    if detector is None:
        import dlib

        detector = _local.dlib_detector = dlib.get_frontal_face_detector()
    return detector


def _cnn_detector():
    """dlib's CNN face detector (MMOD), from the ``face-recognition-models`` wheel, one per thread."""
    detector = getattr(_local, "cnn_detector", None)
    if detector is None:
        import dlib

        from .landmarks import model_path

        detector = _local.cnn_detector = dlib.cnn_face_detection_model_v1(model_path(VIDEO.cnn_model))
    return detector


def _haar_detector():
    """OpenCV's Haar cascade, one per thread."""
    cascade = getattr(_local, "haar", None)
    if cascade is None:
        cascade = _local.haar = _load_haar()
    return cascade


def _load_haar():
    path = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not path or not hasattr(cv2, "CascadeClassifier"):
        raise ImageError("this OpenCV build has no Haar cascades: use the dlib detector or opencv-python<5")
    cascade = cv2.CascadeClassifier(os.path.join(path, VIDEO.haar_cascade))
    if cascade.empty():
        raise ImageError("OpenCV's frontal face cascade could not be loaded")
    return cascade


#: The face detectors :func:`detect_faces` knows: dlib's HOG detector, OpenCV's Haar cascade,
#: dlib's CNN (MMOD) detector, and HOG followed by the CNN on images where HOG finds nothing.
DETECTORS = ("dlib", "opencv", "cnn", "dlib+cnn")
#: The detectors that start with dlib's HOG detector, with which the face-crop rule
#: (:func:`face_crop_box`) applies.
HOG_DETECTORS = ("dlib", "dlib+cnn")


def _resized(gray, max_side, min_side):
    """``gray`` scaled so that its longer side is at most ``max_side`` and at
    least ``min_side`` (0: no bound), and the scale factor."""
    h, w = gray.shape
    longer = max(h, w)
    factor = 1.0
    if max_side and longer > max_side:
        factor = max_side / longer
    elif min_side and longer < min_side:
        factor = min_side / longer
    if factor == 1.0:
        return gray, factor
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR), factor


def as_hog_box(x, y, w, h, scale=VIDEO.cnn_box_scale, shift_x=VIDEO.cnn_box_shift_x, shift_y=VIDEO.cnn_box_shift_y):
    """Another detector's box as the HOG detector would frame the same face, so
    that one crop geometry serves both: a square ``scale`` times the box's
    longer side, its centre moved by ``shift_x`` and ``shift_y`` of that side.
    The defaults are the CNN detector's (``VIDEO.cnn_box_*``, measured by
    ``benchmarks/photos.py --calibrate``)."""
    side = max(w, h)
    cx = x + w / 2.0 + shift_x * side
    cy = y + h / 2.0 + shift_y * side
    side *= scale
    return (cx - side / 2.0, cy - side / 2.0, side, side)


def _rects(gray, detector, upsample, max_side, min_side, pad=0.0):
    """``(x, y, w, h)`` boxes of one detector, in the pixels of ``gray``.

    ``pad`` (a fraction of the scaled image's longer side) adds a replicated
    border first: a face that fills the whole image is found far more often
    with some margin around it.
    """
    scaled, factor = _resized(gray, max_side, min_side)
    border = int(round(pad * max(scaled.shape)))
    if border:
        scaled = cv2.copyMakeBorder(scaled, border, border, border, border, cv2.BORDER_REPLICATE)
    if detector == "dlib":
        found = [(r.left(), r.top(), r.width(), r.height()) for r in _dlib_detector()(scaled, upsample)]
    elif detector == "cnn":
        found = [as_hog_box(d.rect.left(), d.rect.top(), d.rect.width(), d.rect.height())
                 for d in _cnn_detector()(scaled, upsample)]
    else:
        found = _haar_detector().detectMultiScale(scaled, scaleFactor=VIDEO.haar_scale_factor,
                                                  minNeighbors=VIDEO.haar_min_neighbors,
                                                  minSize=(VIDEO.haar_min_size, VIDEO.haar_min_size))
    return [((x - border) / factor, (y - border) / factor, w / factor, h / factor) for x, y, w, h in found]


def _detect(gray, detector, upsample, max_side, min_side, cnn_max_side, small, propose=None, more=None,
            last_look=VIDEO.photo_last_look):
    """One detector's (or HOG-then-CNN's) boxes, as :func:`detect_faces` describes."""
    pad = VIDEO.small_pad if small else 0.0
    rects = []
    if detector in ("dlib", "opencv", "dlib+cnn"):
        rects = _rects(gray, detector.split("+")[0], upsample, max_side, min_side, pad)
    if detector == "dlib+cnn" and not rects and not small and more is not None:  # the faces of the look alone
        rects = list(more(gray, []))
    if detector == "dlib+cnn" and not rects and not small and last_look == "yunet" and yunet.available():
        rects, doubtful = yunet_look(gray)
        if rects or not doubtful:
            return rects
    if detector == "dlib+cnn" and not rects and not small and VIDEO.hog_retry_upsample:
        rects, near = _hog_near_misses(gray, upsample + VIDEO.hog_retry_upsample, max_side, min_side)
        if not rects:
            rects = _confirmed_by_cnn(gray, near + (list(propose(gray)) if propose else []))
    if detector == "cnn" or (detector == "dlib+cnn" and not rects):
        for side in VIDEO.small_cnn_sides if small else (min(max_side or cnn_max_side, cnn_max_side),):
            rects = _rects(gray, "cnn", upsample, side, side if small else min_side, pad)
            if rects:
                break
    return rects


def yunet_look(gray, max_side=VIDEO.yunet_max_side, confirm=VIDEO.yunet_confirm,
               confirm_score=VIDEO.yunet_confirm_score, doubt_score=VIDEO.yunet_doubt_score):
    """The photo search's last look: YuNet's candidates (:mod:`features.yunet`), confirmed by the CNN.

    YuNet looks at ``gray`` shrunk to at most ``max_side``; its best
    ``confirm`` boxes scoring at least ``confirm_score`` are each searched by
    the CNN detector around itself (:func:`_confirmed_by_cnn`), and the faces
    found there are the answer, in HOG's geometry. YuNet alone is not
    trusted: it scores a dog's face 0.84, and face-free textures up to about
    0.65 (BENCHMARKS.md, "YuNet as the last look"). Where the CNN confirms
    none of the boxes but YuNet's best scores at least ``doubt_score``, the
    answer is doubtful: :func:`detect_faces` then runs its slower looks after
    all (YuNet is sure of some faces that the CNN around its box misses).

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    max_side : int
        YuNet's input's longer side, at most (its smallest face is about 10 pixels there).
    confirm : int
        How many of YuNet's boxes the CNN checks, best first.
    confirm_score : float
        The lowest score (0 to 1) of a box the CNN checks.
    doubt_score : float
        The lowest best score (0 to 1) that makes an unconfirmed answer doubtful
        (above 1: never).

    Returns
    -------
    faces : list of (x, y, w, h)
        Boxes in the pixels of ``gray``, one a face.
    doubtful : bool
        No face confirmed, but YuNet's best box scores at least ``doubt_score``.
    """
    scaled, factor = _resized(gray, max_side, 0)
    found = yunet.detect(scaled)
    boxes = [(x / factor, y / factor, w / factor, h / factor) for (x, y, w, h), score in found
             if score >= confirm_score]
    confirmed = _confirmed_by_cnn(gray, boxes[:confirm])
    return confirmed, not confirmed and bool(found) and found[0][1] >= doubt_score


def _hog_near_misses(gray, upsample, max_side, min_side):
    """HOG's faces, and its best ``VIDEO.hog_candidates`` windows that score under
    its threshold but at least ``VIDEO.hog_candidate_score`` (one search for both).

    Returns
    -------
    faces, near_misses : list of (x, y, w, h)
        Boxes in the pixels of ``gray``; the near misses best first.
    """
    if not VIDEO.hog_candidates:
        return _rects(gray, "dlib", upsample, max_side, min_side), []
    scaled, factor = _resized(gray, max_side, min_side)
    found, scores, _ = _dlib_detector().run(scaled, upsample, VIDEO.hog_candidate_score)
    boxes = [((r.left() / factor, r.top() / factor, r.width() / factor, r.height() / factor), s)
             for r, s in zip(found, scores)]
    near = sorted((b for b in boxes if b[1] < 0), key=lambda b: -b[1])[: VIDEO.hog_candidates]
    return [box for box, score in boxes if score >= 0], [box for box, _ in near]


def _confirmed_by_cnn(gray, candidates):
    """The faces that the CNN detector finds around candidate boxes (each
    searched in a region ``VIDEO.candidate_margin`` times its box, scaled so that
    the box is ``VIDEO.candidate_side`` pixels; a candidate overlapping one
    searched already is skipped), once each, in HOG's geometry."""
    out, searched = [], []
    for box in candidates:
        if any(box_iou(box, done) > 0.5 for done in searched):
            continue
        searched.append(box)
        found = _search_around(gray, box, "cnn", 0, VIDEO.candidate_side, VIDEO.candidate_margin)
        if found and all(box_iou(found, kept) <= 0.5 for kept in out):
            out.append(found)
    return out


def _search_around(gray, box, detector, upsample, side, margin):
    """One detector's face nearest the centre of a region around ``box``, or None.

    The region, ``margin`` times the box's larger side and clipped to the
    image, is scaled so that the box becomes ``side`` pixels, then searched.
    """
    h, w = gray.shape
    x, y, bw, bh = box
    largest = max(bw, bh)
    cx, cy, half = x + bw / 2.0, y + bh / 2.0, largest * margin / 2.0
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(w, cx + half)), int(min(h, cy + half))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    k = side / largest
    region = cv2.resize(gray[y0:y1, x0:x1], (max(1, round((x1 - x0) * k)), max(1, round((y1 - y0) * k))),
                        interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    found = _rects(region, detector, upsample, 0, 0)
    if not found:
        return None
    fx, fy, fw, fh = min(found, key=lambda r: abs(r[0] + r[2] / 2 - region.shape[1] / 2)
                         + abs(r[1] + r[3] / 2 - region.shape[0] / 2))
    return (x0 + fx / k, y0 + fy / k, fw / k, fh / k)


def _refine(gray, rects, detector, upsample, keep=False):
    """Boxes found on a coarse image, each detected again around itself at a finer scale.

    A face found at the coarse scale's smallest window gets a box of that
    window's size, larger than the face. Each region around a coarse box is
    scaled so that the box becomes ``VIDEO.refine_side`` pixels (a face
    comfortably above the detector's smallest) and searched again: a few
    percent of the work of a search of the whole image at the finer scale.

    With ``keep``, a box whose face is not found again is kept as it is.

    Returns
    -------
    list of (x, y, w, h)
        The refined boxes, or (without ``keep``) an empty list when any face
        is not found again (the caller then searches the whole image at the
        finer scale).
    """
    out = []
    for box in rects:
        found = _search_around(gray, box, detector, upsample, VIDEO.refine_side, VIDEO.refine_margin)
        if found is None and not keep:
            return []
        out.append(box if found is None else found)
    return out


#: The second looks at a small image where ``dlib+cnn`` found nothing (``VIDEO.small_retries``):
#: the detectors are not mirror-symmetric, and low-contrast faces show better equalised (the
#: last look, ``cnn_upsample``, runs the CNN on the image enlarged once more).
_RETRIES = {
    "mirror": lambda gray: np.ascontiguousarray(gray[:, ::-1]),
    "clahe": lambda gray: cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(gray),
    "equalize": cv2.equalizeHist,
}


#: What ``detect_faces`` does with a coarse hook's box that HOG does not find again (``coarse_refine``).
COARSE_REFINES = ("search", "keep", "none")


def check_coarse_refine(coarse_refine):
    """Raise a one-line ``ValueError`` unless ``coarse_refine`` is one of :data:`COARSE_REFINES`."""
    if coarse_refine not in COARSE_REFINES:
        raise ValueError(f"unknown coarse_refine {coarse_refine!r} ({', '.join(COARSE_REFINES)})")


#: The photo search's last looks (``detect_faces``' ``last_look``, ``VIDEO.photo_last_look``).
LAST_LOOKS = ("slow", "yunet")


def check_last_look(last_look):
    """Raise a one-line ``ValueError`` unless ``last_look`` is one of :data:`LAST_LOOKS`."""
    if last_look not in LAST_LOOKS:
        raise ValueError(f"unknown last_look {last_look!r} ({', '.join(LAST_LOOKS)})")


def detect_faces(gray, detector=VIDEO.detector, max_side=VIDEO.detect_max_side, upsample=VIDEO.upsample,
                 min_side=VIDEO.detect_min_side, cnn_max_side=VIDEO.cnn_max_side, coarse_side=0, propose=None,
                 more=None, coarse=None, coarse_refine="search", last_look=VIDEO.photo_last_look):
    """Face boxes in a grey image.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    detector : {"dlib", "opencv", "cnn", "dlib+cnn"}
        See :data:`DETECTORS`. ``dlib+cnn`` runs HOG, then in an image larger
        than ``VIDEO.small_side`` where HOG finds nothing (nor ``more``) its
        last look (``last_look``).
    max_side : int
        Images whose longer side exceeds this are shrunk for detection.
    upsample : int
        dlib's upsampling count (finds smaller faces, slower).
    min_side : int
        Images whose longer side is below this are enlarged to it first: the
        detectors find no face under about 80 (HOG) or 50 (CNN) pixels. Small
        images (up to ``VIDEO.small_side``) are often face crops that the face
        fills: they get a margin (``VIDEO.small_pad``), the CNN tries the
        sides ``VIDEO.small_cnn_sides`` in turn until one finds a face, and
        ``dlib+cnn`` looks again at the mirrored and equalised image, and
        with the CNN upsampled once (``VIDEO.small_retries``), before it
        gives up.
    cnn_max_side : int
        The CNN detector runs on the image shrunk to at most this (it costs
        about 1.2 s at 640x480 on two cores, 0.1 s at 192x192).
    coarse_side : int, optional
        Look first on the image shrunk to this (a quarter to half of the
        work at ``max_side``), and at ``max_side`` only where that finds no
        face: large faces are found fast, and a frame whose faces are all
        large is not searched for small ones (0: at ``max_side`` only).
    propose : callable, optional
        ``propose(gray)`` gives more candidate boxes (a face proposer's, such
        as BlazeFace's in :mod:`models.proposer`) for ``dlib+cnn`` in an image
        larger than ``VIDEO.small_side``: where upsampled HOG finds no face, the
        CNN looks around each, beside HOG's near misses, before it searches
        the whole image.
    more : callable, optional
        ``more(gray, found)`` gives more faces beside those ``found`` in an
        image larger than ``VIDEO.small_side`` (a second look for the small
        faces of a group photo, such as :func:`models.mtcnn.more_faces`): the
        search stops at the first look that finds a face, and HOG's smallest
        face is about 80 pixels. With ``dlib+cnn``, where HOG's first look
        finds no face, ``more(gray, [])``'s faces are taken before the slower
        looks (``VIDEO.group_look_before_retry``).
    coarse : callable, optional
        ``coarse(gray, coarse_side)`` gives the boxes of the coarse look (in the
        pixels of ``gray``) instead of ``detector`` on the image shrunk to
        ``coarse_side`` (such as :func:`models.mtcnn.coarse_faces`, video's);
        each is refined by ``detector`` as the coarse look's boxes are.
    coarse_refine : {"search", "keep", "none"}, optional
        With ``coarse``, what becomes of a box that ``detector`` does not find
        again around itself: ``search`` searches the image at ``max_side``
        (as for the detector's own coarse boxes), ``keep`` keeps the box as
        ``coarse`` framed it; ``none`` takes every box as ``coarse`` framed
        it, unrefined (``VIDEO.video_mtcnn_refine``).
    last_look : {"slow", "yunet"}, optional
        ``dlib+cnn``'s last look at an image larger than ``VIDEO.small_side``
        (:data:`LAST_LOOKS`; default ``VIDEO.photo_last_look``): ``slow`` is
        HOG again with ``VIDEO.hog_retry_upsample`` more upsampling, then the
        CNN around that search's best near misses (``VIDEO.hog_candidates``)
        and ``propose``'s candidates, then the CNN over the whole image (about
        2 s at 640x480 without a face); ``yunet`` is :func:`yunet_look`
        (about a thirtieth of that), followed by the slower looks only where
        its answer is doubtful, where :func:`features.yunet.available`, else
        ``slow``.

    Returns
    -------
    list of (x, y, w, h)
        Boxes in the pixels of ``gray``, largest first.
    """
    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r} ({', '.join(DETECTORS)})")
    check_coarse_refine(coarse_refine)
    check_last_look(last_look)
    h, w = gray.shape
    small = max(h, w) <= VIDEO.small_side
    rects = []
    if coarse_side and not small and min(max(h, w), max_side or max(h, w)) > coarse_side:
        found = coarse(gray, coarse_side) if coarse is not None else \
            _detect(gray, detector, upsample, coarse_side, min_side, cnn_max_side, small, last_look="slow")
        hooked = coarse is not None  # coarse_refine is about the hook's boxes, not the detector's own
        rects = list(found) if hooked and coarse_refine == "none" else \
            _refine(gray, found, detector, upsample, keep=hooked and coarse_refine == "keep")
    alone = []  # the faces of ``more(gray, [])`` where HOG's first look found none: nothing to add to them

    def look_alone(image, found):
        alone.extend(more(image, found))
        return alone

    if not rects:
        rects = _detect(gray, detector, upsample, max_side, min_side, cnn_max_side, small, propose,
                        look_alone if more is not None and VIDEO.group_look_before_retry else None, last_look)
    if not rects and small and detector == "dlib+cnn":  # second chances for a small image: a face crop?
        for retry in VIDEO.small_retries:
            if retry == "cnn_upsample":  # the CNN once more, the image enlarged twice as much
                side = VIDEO.small_cnn_sides[0]
                rects = _rects(gray, "cnn", upsample + 1, side, side, VIDEO.small_pad)
            else:
                rects = _detect(_RETRIES[retry](gray), detector, upsample, max_side, min_side, cnn_max_side, small)
            if retry == "mirror":
                rects = [(w - x - bw, y, bw, bh) for x, y, bw, bh in rects]
            if rects:
                break
    if rects and more is not None and not small and not alone:
        rects = rects + list(more(gray, rects))
    return _pixel_boxes(rects, w, h)


def confirm_faces(gray, candidates):
    """Candidate faces (a face proposer's boxes), each searched for by HOG around itself.

    Each candidate's region (``VIDEO.refine_margin`` times its box) is scaled
    so that the box becomes ``VIDEO.refine_side`` pixels and searched by
    dlib's HOG detector, as :func:`detect_faces` refines coarse faces: the
    boxes returned are HOG's, in the geometry that the crops are measured on.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    candidates : sequence of (x, y, w, h)
        Boxes in the pixels of ``gray``.

    Returns
    -------
    list of (x, y, w, h)
        The faces found, largest first (two candidates that find one face
        give it once), or an empty list when any candidate's face is not
        found, or there is no candidate.
    """
    h, w = gray.shape
    boxes = []
    for box in _pixel_boxes(_refine(gray, list(candidates), "dlib", 0), w, h):
        if all(box_iou(box, kept) <= 0.5 for kept in boxes):
            boxes.append(box)
    return boxes


def box_iou(a, b):
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _pixel_boxes(rects, width, height):
    """Detector rectangles as whole-pixel boxes inside the image, largest first."""
    boxes = [box for box in (_pixel_box(rect, width, height) for rect in rects) if box]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


def _pixel_box(rect, width, height):
    """A detector's ``(x, y, w, h)`` rounded to whole pixels and clipped to the
    image; None when nothing of it lies inside."""
    x, y, bw, bh = rect
    x0, y0 = max(0, round(x)), max(0, round(y))
    x1, y1 = min(width, round(x + bw)), min(height, round(y + bh))
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def face_crop_box(gray, side=VIDEO.crop_rule_side, pad=VIDEO.crop_rule_pad, ratio=VIDEO.crop_rule_ratio,
                  offset=VIDEO.crop_rule_offset, check_side=VIDEO.crop_rule_check_side,
                  check_ratio=VIDEO.crop_rule_check_ratio):
    """The face box of an image that is itself a FER-style face crop, else None.

    The face-crop rule (``VIDEO.crop_rule*``): a small image in which HOG,
    looking at the image shrunk (or enlarged) to ``side`` pixels with a
    ``pad`` margin, finds exactly one face, whose box is ``ratio`` times the
    image's shorter side and whose centre is within ``offset`` sides of the
    image's centre, is framed like a FER-2013 face already: it is taken whole
    (:meth:`features.spec.FeatureSpec.crop_whole`), as ``--whole-image``
    takes every image. Only a face the detector does find qualifies, so an
    image without a face still has none; the look costs about 0.45 ms.

    A face smaller than HOG's smallest at ``side`` can still be framed by
    its smallest box, which fills the image: where the rule holds, HOG looks
    again at ``check_side`` pixels, and a face box there smaller than
    ``check_ratio`` of the shorter side (a portrait with room around the
    face) makes the rule fail.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    side : int
        Side the image is searched at: a face that fills it is above HOG's
        smallest (80 pixels), and one that does not is not found.
    pad : float
        Replicated margin, a fraction of ``side``.
    ratio : (float, float)
        Smallest and largest box side over the image's shorter side.
    offset : float
        Largest distance of the box's centre from the image's, in shorter sides.
    check_side : int
        Side of the second look (0: none).
    check_ratio : float
        Smallest box side over the image's shorter side in the second look.

    Returns
    -------
    (x, y, w, h) or None
        The box, in the pixels of ``gray``, when the rule holds.
    """
    h, w = gray.shape
    if max(h, w) > VIDEO.small_side:
        return None
    rects = _rects(gray, "dlib", 0, side, side, pad)
    if len(rects) != 1:
        return None
    x, y, bw, bh = rects[0]
    shorter = min(h, w)
    if not ratio[0] <= max(bw, bh) / shorter <= ratio[1]:
        return None
    if abs(x + bw / 2.0 - w / 2.0) > offset * shorter or abs(y + bh / 2.0 - h / 2.0) > offset * shorter:
        return None
    if check_side and any(max(b[2], b[3]) < check_ratio * shorter
                          for b in _rects(gray, "dlib", 0, check_side, check_side, pad)):
        return None
    return _pixel_box(rects[0], w, h)


def crop_square(box, scale=FEATURES.crop_scale, shift_x=FEATURES.crop_shift_x, shift_y=FEATURES.crop_shift_y):
    """The FER-2013-style crop square around a face box.

    Parameters
    ----------
    box : (x, y, w, h)
    scale : float
        Crop side over the box's larger side.
    shift_x, shift_y : float
        Offset of the crop's centre from the box's, in box sides.

    Returns
    -------
    (x0, y0, side) : floats
        Top-left corner and side of the square, in image pixels.
    """
    x, y, w, h = box
    box_side = max(w, h)
    side = scale * box_side
    return (x + w / 2.0 + shift_x * box_side - side / 2.0, y + h / 2.0 + shift_y * box_side - side / 2.0, side)


#: What a crop that runs past the image's edge is filled with: the border replicated, the image
#: mirrored, mid grey, or no filling: the square shrunk (and moved) to fit inside the image.
CROP_FITS = {"replicate": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT_101, "constant": cv2.BORDER_CONSTANT,
             "shrink": None}


def fit_square(x0, y0, side, width, height):
    """The square ``(x0, y0, side)`` shrunk to fit a ``width`` x ``height``
    image and moved inside it, keeping its centre where it can."""
    fitted = min(side, width, height)
    cx, cy = x0 + side / 2.0, y0 + side / 2.0
    x0 = min(max(cx - fitted / 2.0, 0.0), width - fitted)
    y0 = min(max(cy - fitted / 2.0, 0.0), height - fitted)
    return x0, y0, fitted


def crop_faces(gray, boxes, size=FEATURES.image_size, scale=FEATURES.crop_scale, shift_x=FEATURES.crop_shift_x,
               shift_y=FEATURES.crop_shift_y, fit=FEATURES.crop_fit):
    """FER-2013-style crops around face boxes.

    Each crop is a square ``scale`` times the box's larger side, centred on
    the box's centre shifted by ``(shift_x, shift_y)`` box sides; what runs
    past the image is handled as ``fit`` says.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    boxes : sequence of (x, y, w, h)
    size : int
        Output side.
    fit : {"replicate", "reflect", "constant", "shrink"}
        See :data:`CROP_FITS`.

    Returns
    -------
    (N, size, size) uint8 ndarray
    """
    return crop_squares(gray, [crop_square(box, scale, shift_x, shift_y) for box in boxes], size, fit)


def crop_squares(gray, squares, size=FEATURES.image_size, fit=FEATURES.crop_fit):
    """Squares of an image resized to ``size`` x ``size``; what runs past the
    image is handled as ``fit`` says (:data:`CROP_FITS`).

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    squares : sequence of (x0, y0, side)
    size : int
    fit : {"replicate", "reflect", "constant", "shrink"}

    Returns
    -------
    (N, size, size) uint8 ndarray
    """
    border = CROP_FITS[fit]
    out = np.empty((len(squares), size, size), dtype=np.uint8)
    for i, (x0, y0, side) in enumerate(squares):
        if border is None:  # shrink: only rounding can still reach past the edge
            x0, y0, side = fit_square(x0, y0, side, gray.shape[1], gray.shape[0])
        out[i] = crop_square_image(gray, x0, y0, side, size, cv2.BORDER_REPLICATE if border is None else border)
    return out


def straight_edges(gray, square, reach=VIDEO.tile_reach, core=VIDEO.tile_core, step=VIDEO.tile_step,
                   share=VIDEO.tile_share, margin=VIDEO.tile_margin):
    """How straight an edge each line around a face's square is, per side.

    A line (a column for the left and right sides, a row for the top and
    bottom) scores the share of the square's core (its middle ``1 - 2 core``)
    along which the line's step in brightness is at least ``step`` grey levels
    and no smaller than its neighbours' (a local maximum across the lines): the
    edge of a photo in a photo, or of a tile of a video call, scores near 1
    along its whole length; a face's own outline, hair or a background does
    not. Each side's lines run from ``reach`` sides outside the square to
    the edge of its core.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    square : (x0, y0, side)
        The face's crop square, in image pixels.
    reach, core : float
        In the square's sides.
    step : float
        Grey levels.
    share, margin : float
        A side's edge is its line nearest the face among those that score at
        least ``share`` and at most ``margin`` under the side's best (a tile's
        edge, not a line of the face inside it nor one of the background
        beyond); where none scores ``share``, the best line.

    Returns
    -------
    list of four (position, score)
        Left, right, top and bottom: the edge's position (the first pixel past
        the step, counted from the left or top; None where the side has no line
        inside the image) and score, 0 to 1.
    """
    h, w = gray.shape
    x0, y0, side = square
    xa, xb = int(max(0, np.floor(x0 - reach * side))), int(min(w, np.ceil(x0 + (1 + reach) * side)))
    ya, yb = int(max(0, np.floor(y0 - reach * side))), int(min(h, np.ceil(y0 + (1 + reach) * side)))
    region = gray[ya:yb, xa:xb].astype(np.float32)
    lo, hi = core * side, (1 - core) * side
    rows = slice(max(0, int(round(y0 + lo)) - ya), max(0, int(round(y0 + hi)) - ya))
    cols = slice(max(0, int(round(x0 + lo)) - xa), max(0, int(round(x0 + hi)) - xa))
    sides = []
    for steps, start, near, far in ((np.abs(np.diff(region[rows], axis=1)), xa + 1, x0 + lo, x0 + hi),
                                    (np.abs(np.diff(region[:, cols], axis=0)).T, ya + 1, y0 + lo, y0 + hi)):
        scores = _line_scores(steps, step)
        positions = start + np.arange(len(scores))
        for outside, inward in ((positions <= near, -1), (positions >= far, 1)):
            if not outside.any():
                sides.append((None, 0.0))
                continue
            best = int(np.argmax(np.where(outside, scores, -1.0)))
            strong = np.flatnonzero(outside & (scores >= max(share, scores[best] - margin)))
            if len(strong):
                best = strong[0] if inward > 0 else strong[-1]
            sides.append((int(positions[best]), float(scores[best])))
    return sides


def _line_scores(steps, step):
    """Per line (column of ``steps``, one row per pixel along the lines): the share of
    its pixels whose step is at least ``step`` and a local maximum across the lines."""
    if steps.size == 0:
        return np.zeros(steps.shape[1] if steps.ndim == 2 else 0)
    before = np.pad(steps, ((0, 0), (1, 0)))[:, :-1]
    after = np.pad(steps, ((0, 0), (0, 1)))[:, 1:]
    return ((steps >= step) & (steps >= before) & (steps >= after)).mean(axis=0)


def tile_square(gray, square, share=VIDEO.tile_share, whole=VIDEO.tile_whole, aspect=VIDEO.tile_aspect,
                fit=VIDEO.tile_fit, **edges):
    """A face's crop square from the tile that frames it, if any.

    A face inside a rectangle with straight edges on all four sides (a photo
    in a photo, a tile of a video call, a face crop pasted into a page: each
    side's edge of :func:`straight_edges` scores at least ``share``), where
    what lies outside the rectangle is not the rest of the head: a square
    tile that frames the face as a face crop does (the face's square is
    ``whole`` times its side) is taken whole, as the face-crop rule takes a
    whole image. With ``fit``, any other tile holds the square, shrunk (and
    moved) to fit inside it as ``crop_fit`` "shrink" fits it into the image.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    square : (x0, y0, side)
    share : float
        Smallest score of each of the four sides.
    whole : (float, float)
        Smallest and largest side of the face's square over the tile's.
    aspect : float
        Largest ratio of the tile's longer side to its shorter for a square tile.
    fit : bool
        Fit the square into a tile not taken whole (else keep it).
    **edges
        :func:`straight_edges`' ``reach``, ``core``, ``step`` and ``margin``.

    Returns
    -------
    (x0, y0, side) : floats
        ``square`` itself where no tile frames the face.
    """
    (left, ls), (right, rs), (top, ts), (bottom, bs) = straight_edges(gray, square, share=share, **edges)
    if min(ls, rs, ts, bs) < share:
        return square
    width, height = right - left, bottom - top
    shorter = min(width, height)
    x0, y0, side = square
    if max(width, height) <= aspect * shorter and whole[0] <= side / shorter <= whole[1]:
        return (left + (width - shorter) / 2.0, top + (height - shorter) / 2.0, float(shorter))
    if not fit:
        return square
    x0, y0, side = fit_square(x0 - left, y0 - top, side, width, height)
    return (x0 + left, y0 + top, side)


def turn_image(gray, angle):
    """An image turned by ``angle`` degrees on a canvas that holds all of it.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    angle : float
        Degrees, counter-clockwise as the image is shown: a face leaning
        that many degrees clockwise stands upright in the turned image.

    Returns
    -------
    turned : uint8 ndarray
        The canvas's corners filled with the image's border, replicated.
    back : (2, 3) float ndarray
        The affine map from the turned image's pixels to ``gray``'s.
    """
    h, w = gray.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    width, height = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
    matrix[0, 2] += (width - w) / 2.0
    matrix[1, 2] += (height - h) / 2.0
    turned = cv2.warpAffine(gray, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return turned, cv2.invertAffineTransform(matrix)


def check_turns(turns):
    """The angles of the turned looks (:func:`look_turned`) as a tuple of floats,
    or a one-line ``ValueError`` unless each is a number of degrees in (-180, 180)."""
    try:
        if isinstance(turns, (str, bytes)):
            raise TypeError
        angles = tuple(float(a) for a in turns)
    except (TypeError, ValueError):
        raise ValueError(f"turns must be a sequence of angles in degrees, got {turns!r}") from None
    if not all(-180.0 < a < 180.0 for a in angles):
        raise ValueError(f"turns must be angles in degrees between -180 and 180, got {turns!r}")
    return angles


def turned_search(gray, confirm_score=VIDEO.turn_confirm_score):
    """The turned looks' search of a turned photo: YuNet's best boxes scoring at
    least ``confirm_score``, each confirmed by the CNN around itself
    (:func:`yunet_look`, without its slower looks); none where YuNet is not
    available (:func:`features.yunet.available`).

    Returns
    -------
    list of (x, y, w, h)
        Boxes in the pixels of ``gray``, in HOG's geometry.
    """
    return yunet_look(gray, confirm_score=confirm_score)[0] if yunet.available() else []


def look_turned(gray, angles=VIDEO.photo_turns, search=turned_search):
    """The faces found in a photo turned by each of ``angles`` in turn
    (:func:`turn_image`), at the first turn that finds one.

    Faces leaning 30 degrees or more (a head on a hand, a person lying down)
    are hardly found upright; turned, many are. The photo search looks so
    (``dlib+cnn``, photos larger than ``VIDEO.small_side``) where all its
    other looks found no face.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    angles : sequence of float
        Degrees, as :func:`turn_image` turns.
    search : callable, optional
        ``search(image)``: face boxes ``(x, y, w, h)`` of a grey image
        (default :func:`turned_search`).

    Returns
    -------
    turned : uint8 ndarray or None
        The turned photo the faces were found in (None: no turn found one, or
        ``gray`` is not larger than ``VIDEO.small_side``).
    back : (2, 3) float ndarray or None
        Its map back to ``gray``'s pixels.
    boxes : list of (x, y, w, h)
        The faces centred inside ``gray``, in the turned photo's whole pixels,
        largest first.
    """
    h, w = gray.shape
    if max(h, w) <= VIDEO.small_side:
        return None, None, []
    for angle in angles:
        turned, back = turn_image(gray, angle)
        boxes = [box for box in _pixel_boxes(search(turned), turned.shape[1], turned.shape[0])
                 if _centred_inside(turned_box(box, back), w, h)]
        if boxes:  # not in the corners the turn filled
            return turned, back, boxes
    return None, None, []


def _centred_inside(box, width, height):
    """Whether a box's centre lies inside a ``width`` x ``height`` image."""
    x, y, w, h = box
    return 0 <= x + w / 2.0 <= width and 0 <= y + h / 2.0 <= height


def turned_box(box, back):
    """A box of a turned image (:func:`turn_image`) in the original's pixels:
    the box of the same size around the same centre, upright (not clipped to
    the original)."""
    x, y, w, h = box
    cx, cy = back @ (x + w / 2.0 - 0.5, y + h / 2.0 - 0.5, 1.0)
    return (float(cx - w / 2.0 + 0.5), float(cy - h / 2.0 + 0.5), w, h)


def turned_boxes(boxes, back, shape):
    """Boxes of a turned image (:func:`turn_image`) as :func:`turned_box` maps them, in whole
    pixels clipped to the original of ``shape`` (H, W), in their order (each centred inside it,
    as :func:`look_turned` keeps them)."""
    return [_pixel_box(turned_box(box, back), shape[1], shape[0]) for box in boxes]


def turned_square(square, back):
    """A crop square ``(x0, y0, side)`` of a turned image (:func:`turn_image`)
    in the original's pixels: ``(x0, y0, side, angle)``, the square of the same
    centre and side turned ``angle`` degrees about its centre (as
    :func:`square_points` reads it)."""
    x0, y0, side = square[:3]
    cx, cy = back @ (x0 + side / 2.0 - 0.5, y0 + side / 2.0 - 0.5, 1.0)
    angle = float(np.degrees(np.arctan2(back[1, 0], back[0, 0])))
    return (float(cx - side / 2.0 + 0.5), float(cy - side / 2.0 + 0.5), side, angle)


def square_points(points, square, size):
    """Points in a crop's pixels mapped into the image it was cut from.

    Parameters
    ----------
    points : (N, 2) array_like
        In the pixels of a ``size`` x ``size`` crop.
    square : (x0, y0, side) or (x0, y0, side, angle)
        The square the crop was cut from, in the image's pixels; turned
        ``angle`` degrees about its centre where given (:func:`turned_square`).
    size : int

    Returns
    -------
    (N, 2) float64 ndarray
    """
    x0, y0, side = square[:3]
    offsets = (np.asarray(points, np.float64) + 0.5) * (side / size) - side / 2.0
    if len(square) > 3 and square[3]:
        t = np.radians(square[3])
        offsets = offsets @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    return offsets + (x0 + side / 2.0 - 0.5, y0 + side / 2.0 - 0.5)


def landmark_square(landmarks, side=VIDEO.reframe_side, offset=VIDEO.reframe_offset):
    """The square that frames a face as FER-2013 does, from its landmarks.

    Parameters
    ----------
    landmarks : (68, 2) array_like
        In image pixels.
    side : float, optional
        The square's side, in landmark spreads (:func:`features.landmarks.centre_and_spread`).
    offset : (float, float), optional
        The square's centre from the landmarks' centre, in spreads.

    Returns
    -------
    (x0, y0, side) : floats
    """
    centre, spread = centre_and_spread(landmarks)
    width = side * spread
    return (centre[0] + offset[0] * spread - width / 2.0, centre[1] + offset[1] * spread - width / 2.0, width)


def crop_square_image(gray, x0, y0, side, size, border=cv2.BORDER_REPLICATE):
    """The square ``(x0, y0, side)`` of an image, resized to ``size`` x ``size``.

    Shrinking averages areas over the (border-padded) square; enlarging maps
    the square onto the output with one affine warp.
    """
    if side > size:
        left, top = int(np.floor(x0)), int(np.floor(y0))
        right, bottom = int(np.ceil(x0 + side)), int(np.ceil(y0 + side))
        padded = cv2.copyMakeBorder(gray[max(0, top):max(0, bottom), max(0, left):max(0, right)],
                                    max(0, -top), max(0, bottom - gray.shape[0]), max(0, -left),
                                    max(0, right - gray.shape[1]), border, value=128)
        return cv2.resize(padded, (size, size), interpolation=cv2.INTER_AREA)
    k = size / side
    matrix = np.array([[k, 0.0, -x0 * k], [0.0, k, -y0 * k]])
    return cv2.warpAffine(gray, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=128)
