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


def detect_faces(gray, detector=VIDEO.detector, max_side=VIDEO.detect_max_side, upsample=VIDEO.upsample):
    """Face boxes in a grey image.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    detector : {"dlib", "opencv"}
    max_side : int
        Images whose longer side exceeds this are shrunk for detection.
    upsample : int
        dlib's upsampling count (finds smaller faces, slower).

    Returns
    -------
    list of (x, y, w, h)
        Boxes in the pixels of ``gray``, largest first.
    """
    h, w = gray.shape
    factor = min(1.0, max_side / max(h, w)) if max_side else 1.0
    small = cv2.resize(gray, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA) \
        if factor < 1.0 else gray
    if detector == "dlib":
        rects = [(r.left(), r.top(), r.width(), r.height()) for r in _dlib_detector()(small, upsample)]
    elif detector == "opencv":
        found = _haar_detector().detectMultiScale(small, scaleFactor=VIDEO.haar_scale_factor,
                                                  minNeighbors=VIDEO.haar_min_neighbors,
                                                  minSize=(VIDEO.haar_min_size, VIDEO.haar_min_size))
        rects = [tuple(int(v) for v in r) for r in found]
    else:
        raise ValueError(f"unknown detector {detector!r} (dlib, opencv)")
    boxes = []
    for x, y, bw, bh in rects:
        x0, y0 = max(0, round(x / factor)), max(0, round(y / factor))
        x1, y1 = min(w, round((x + bw) / factor)), min(h, round((y + bh) / factor))
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1 - x0, y1 - y0))
    return sorted(boxes, key=lambda b: -b[2] * b[3])


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


def crop_faces(gray, boxes, size=FEATURES.image_size, scale=FEATURES.crop_scale, shift_x=FEATURES.crop_shift_x,
               shift_y=FEATURES.crop_shift_y):
    """FER-2013-style crops around face boxes.

    Each crop is a square ``scale`` times the box's larger side, centred on
    the box's centre shifted by ``(shift_x, shift_y)`` box sides; parts
    outside the image are filled by replicating its border.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    boxes : sequence of (x, y, w, h)
    size : int
        Output side.

    Returns
    -------
    (N, size, size) uint8 ndarray
    """
    out = np.empty((len(boxes), size, size), dtype=np.uint8)
    for i, box in enumerate(boxes):
        x0, y0, side = crop_square(box, scale, shift_x, shift_y)
        if side > size:  # shrinking: area averaging over the (border-padded) square
            left, top = int(np.floor(x0)), int(np.floor(y0))
            right, bottom = int(np.ceil(x0 + side)), int(np.ceil(y0 + side))
            padded = cv2.copyMakeBorder(gray[max(0, top):max(0, bottom), max(0, left):max(0, right)],
                                        max(0, -top), max(0, bottom - gray.shape[0]), max(0, -left),
                                        max(0, right - gray.shape[1]), cv2.BORDER_REPLICATE)
            out[i] = cv2.resize(padded, (size, size), interpolation=cv2.INTER_AREA)
        else:  # enlarging: one affine warp maps the square onto the output
            k = size / side
            matrix = np.array([[k, 0.0, -x0 * k], [0.0, k, -y0 * k]])
            out[i] = cv2.warpAffine(gray, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
    return out
