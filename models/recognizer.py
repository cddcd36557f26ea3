"""Recognise facial expressions in photos and video frames.

    >>> from models import Recognizer
    >>> faces = Recognizer().predict("photo.jpg")
    >>> faces[0]["label"], faces[0]["confidence"], faces[0]["box"]

The path from a face crop to probabilities is the one evaluation uses:
:func:`features.extract.extract_features`, the bundle's own standardisation
and model.
"""

import os
import threading

import numpy as np

from features.extract import extract_features, stack_features, uses_hog
from features.faces import ImageError, crop_faces, crop_square, detect_faces, to_gray
from parameters import DATASET, VIDEO

from .augment import mirror_inputs
from .bundle import BundleError, load_bundle

PRETRAINED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")


def load_image(source, color_order="bgr"):
    """An image as a numpy array in OpenCV's channel order.

    Parameters
    ----------
    source : str, os.PathLike, bytes, PIL.Image.Image or ndarray
        A file path, an encoded file's bytes, a PIL image, or an array
        (grey, or colour in ``color_order``).
    color_order : {"bgr", "rgb"}
        Channel order of an array ``source``.

    Returns
    -------
    (H, W) or (H, W, 3|4) uint8 ndarray
        Grey, BGR or BGRA.

    Raises
    ------
    ImageError
        Missing, empty, truncated or non-image file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(source, (bytes, bytearray, memoryview)):  # an encoded file in memory (uploads)
        import io

        if not len(source):
            raise ImageError("empty file")
        try:
            with Image.open(io.BytesIO(source)) as img:
                img.load()
                source = ImageOps.exif_transpose(img)
        except UnidentifiedImageError:
            raise ImageError("not an image (or an unsupported format)") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"unreadable image ({e})") from None
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise ImageError(f"{path}: no such file")
        if os.path.isdir(path):
            raise ImageError(f"{path}: is a folder")
        if os.path.getsize(path) == 0:
            raise ImageError(f"{path}: empty file")
        try:
            with Image.open(path) as img:
                img.load()
                source = ImageOps.exif_transpose(img)
        except UnidentifiedImageError:
            raise ImageError(f"{path}: not an image (or an unsupported format)") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"{path}: unreadable image ({e})") from None
    if hasattr(source, "mode") and hasattr(source, "convert"):  # a PIL image
        img = source
        if img.mode not in ("L", "RGB", "RGBA"):
            img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        array = np.asarray(img)
        color_order = "rgb"
    else:
        array = np.asarray(source)
    if array.size == 0 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ImageError(f"unsupported image array of shape {array.shape}")
    if array.ndim == 3 and array.shape[2] in (3, 4) and color_order == "rgb":
        array = array[..., [2, 1, 0, 3][: array.shape[2]]]
    return np.ascontiguousarray(array)


class Recognizer:
    """Find faces and recognise their expressions.

    Parameters
    ----------
    model : str, optional
        A model bundle folder (a ``fer-train`` run); None for the model that
        ships with the package.
    detector : {"dlib", "opencv"}, optional
        Face detector: dlib's HOG detector (default) or OpenCV's Haar cascade.
    upsample : int, optional
        dlib's upsampling, to find faces smaller than about 80 pixels.
    max_side : int, optional
        Larger images are shrunk to this for detection (boxes stay in the
        original pixels).
    tta : bool, optional
        Flip test-time augmentation: average the probabilities of each face
        and of its mirror image (twice the model work).
    """

    def __init__(self, model=None, detector=VIDEO.detector, upsample=VIDEO.upsample, max_side=VIDEO.detect_max_side,
                 tta=False):
        path = model or PRETRAINED
        if model is None and not os.path.isfile(os.path.join(PRETRAINED, "bundle.json")):
            raise BundleError(f"the shipped model is missing from {PRETRAINED}: reinstall the package or pass --model")
        self.bundle = load_bundle(path)
        self.classes = self.bundle.classes
        self.detector, self.upsample, self.max_side, self.tta = detector, upsample, max_side, tta
        # Detection and features run concurrently; the model call is serialised
        # (Keras builds its predict function lazily, which is not thread-safe).
        self._model_lock = threading.Lock()

    def detect(self, image, color_order="bgr"):
        """Face boxes ``(x, y, w, h)`` of an image, largest first."""
        gray = to_gray(load_image(image, color_order))
        return detect_faces(gray, self.detector, self.max_side, self.upsample)

    def predict_crops(self, crops):
        """Probabilities and landmarks of 48x48 grey face crops.

        This is the evaluation path: the same feature function as
        conversion, then the bundle's standardisation and model.

        Parameters
        ----------
        crops : (N, 48, 48) uint8 ndarray

        Returns
        -------
        probabilities : (N, K) float32 ndarray
        arrays : dict
            The features computed (``landmarks`` always).
        """
        crops = np.asarray(crops, dtype=np.uint8)
        if not len(crops):
            return np.zeros((0, len(self.classes)), np.float32), {}
        arrays = extract_features(crops, landmarks=True, hog=uses_hog(self.bundle.feature_set))
        arrays["images"] = crops
        features = stack_features(arrays, self.bundle.feature_set)
        if self.tta:  # features outside the lock, like the plain view's
            mirrored = mirror_inputs(crops, arrays["landmarks"], self.bundle.feature_set)
        with self._model_lock:
            probabilities = self.bundle.predict_proba(crops, features)
            if self.tta:
                probabilities = (probabilities + self.bundle.predict_proba(*mirrored)) / 2
        return probabilities, arrays

    def predict(self, image, boxes=None, color_order="bgr"):
        """Recognise the expression of every face in an image.

        Parameters
        ----------
        image : str, os.PathLike, PIL.Image.Image or ndarray
            Path, PIL image, or array (grey, BGR, BGRA, or RGB(A) with
            ``color_order="rgb"``), any size.
        boxes : sequence of (x, y, w, h), optional
            Face boxes to use instead of detecting faces.
        color_order : {"bgr", "rgb"}, optional

        Returns
        -------
        list of dict
            One per face, largest first: ``box`` ([x, y, width, height] in
            image pixels), ``label``, ``confidence``, ``probabilities``
            (class name to probability) and ``landmarks`` (68 [x, y] points
            in image pixels).
        """
        gray = to_gray(load_image(image, color_order))
        if boxes is None:
            boxes = detect_faces(gray, self.detector, self.max_side, self.upsample)
        boxes = [tuple(int(v) for v in b) for b in boxes]
        probabilities, arrays = self.predict_crops(crop_faces(gray, boxes))
        return [self._face(box, p, lm) for box, p, lm in zip(boxes, probabilities, arrays.get("landmarks", []))]

    def predict_batch(self, sources, color_order="bgr"):
        """:meth:`predict` over several images, with one model call for all faces.

        Parameters
        ----------
        sources : sequence
            Paths, PIL images or arrays.

        Returns
        -------
        list
            Per source, the list of faces, or the :class:`ImageError` that
            made it unusable.
        """
        results, crops, owners, all_boxes = [], [], [], []
        for i, source in enumerate(sources):
            try:
                gray = to_gray(load_image(source, color_order))
            except ImageError as e:
                results.append(e)
                continue
            results.append([])
            boxes = detect_faces(gray, self.detector, self.max_side, self.upsample)
            if boxes:
                crops.append(crop_faces(gray, boxes))
                owners.extend([i] * len(boxes))
                all_boxes.extend(boxes)
        if crops:
            probabilities, arrays = self.predict_crops(np.concatenate(crops))
            for i, box, p, lm in zip(owners, all_boxes, probabilities, arrays["landmarks"]):
                results[i].append(self._face(box, p, lm))
        return results

    def _face(self, box, probabilities, landmarks):
        x, y, w, h = box
        x0, y0, side = crop_square(box)  # landmarks back from the 48x48 crop to the image
        k = side / DATASET.image_size
        best = int(np.argmax(probabilities))
        return {
            "box": [int(x), int(y), int(w), int(h)],
            "label": self.classes[best],
            "confidence": float(probabilities[best]),
            "probabilities": {c: float(p) for c, p in zip(self.classes, probabilities)},
            "landmarks": [[round(float(x0 + (px + 0.5) * k - 0.5), 1), round(float(y0 + (py + 0.5) * k - 0.5), 1)]
                          for px, py in landmarks],
        }
