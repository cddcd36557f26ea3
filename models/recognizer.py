"""Recognise facial expressions in photos and video frames.

    >>> from fer_toolkit import Recognizer
    >>> faces = Recognizer().predict("photo.jpg")
    >>> faces[0]["label"], faces[0]["confidence"], faces[0]["box"]

Faces are cropped, and the path from a crop to probabilities is the one
evaluation uses, all by the bundle's own feature specification
(:class:`features.spec.FeatureSpec`), then the bundle's standardisation and model.
"""

import io
import math
import os
import threading
import warnings
from collections import namedtuple

import numpy as np

from ..features.faces import ImageError, detect_faces, to_gray, to_uint8
from ..parameters import VIDEO

from .bundle import BundleError, load_bundle

PRETRAINED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")


class ImageTooLarge(ImageError):
    """An image with more pixels than the limit (refused before decoding)."""


#: A decoded image: the array (grey, BGR or BGRA), the factor from its pixels
#: to the file's (above 1 when a JPEG was decoded at reduced size) and the
#: file's (width, height).
DecodedImage = namedtuple("DecodedImage", "array scale size")
_EXIF_ORIENTATION = 0x0112


def _open_image(opener, name, max_pixels, reduce_to, header_only=False):
    """Open an image file, check its pixel count from the header, then decode it.

    Parameters
    ----------
    opener : callable
        Returns what ``PIL.Image.open`` takes (a path or a file object).
    name : str
        Prefix of error messages ("" for uploads).
    max_pixels : int
        Larger images are refused before any pixel is decoded (0: Pillow's own limit only).
    reduce_to : int
        When positive, a JPEG whose longer side is at least twice this is
        decoded at 1/2, 1/4 or 1/8 size, never below this.
    header_only : bool, optional
        Stop after the header's checks (returns None).

    Returns
    -------
    img : PIL.Image.Image
        Decoded, EXIF orientation applied.
    scale : float
    size : (int, int)
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    prefix = f"{name}: " if name else ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            with Image.open(opener()) as img:
                w, h = img.size
                if max_pixels and w * h > max_pixels:
                    raise ImageTooLarge(f"{prefix}{w}x{h} pixels ({w * h / 1e6:.0f} megapixels) is over the limit "
                                        f"of {max_pixels / 1e6:g} megapixels (--max-pixels)")
                if header_only:
                    return None
                if reduce_to and img.format == "JPEG" and max(w, h) >= 2 * reduce_to:
                    k = reduce_to / max(w, h)
                    img.draft(img.mode, (math.ceil(w * k), math.ceil(h * k)))
                scale = w / img.size[0]
                img.load()
                if img.getexif().get(_EXIF_ORIENTATION) in (5, 6, 7, 8):  # turned by 90 degrees
                    w, h = h, w
                return ImageOps.exif_transpose(img), scale, (w, h)
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"{prefix}too many pixels to decode safely (over Pillow's limit)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{prefix}not an image (or an unsupported format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{prefix}unreadable image ({str(e)[:100]})") from None


def _pil_to_array(img):
    """A decoded PIL image as an 8-bit array (grey, RGB or RGBA); 16-bit and
    float images are scaled to 8 bits, not clipped."""
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        return to_uint8(np.asarray(img))
    if img.mode not in ("L", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    return np.asarray(img)


def _check_path(source):
    """The path of an image file, or an :class:`ImageError` for a missing, folder or empty one."""
    path = os.fspath(source)
    if not os.path.exists(path):
        raise ImageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a folder")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path}: empty file")
    return path


def check_image_file(path, max_pixels=VIDEO.max_pixels):
    """Refuse now, from its name and header alone, an image file that
    :func:`decode_image` would refuse (nothing is decoded: commands check
    their inputs before loading a model).

    Raises
    ------
    ImageTooLarge
    ImageError
    """
    path = _check_path(path)
    _open_image(lambda: path, path, max_pixels, 0, header_only=True)


def decode_image(source, color_order="bgr", max_pixels=VIDEO.max_pixels, reduce_to=0):
    """An image as a numpy array in OpenCV's channel order, checked and bounded.

    Parameters
    ----------
    source : str, os.PathLike, bytes, PIL.Image.Image, ndarray or DecodedImage
        A file path, an encoded file's bytes, a PIL image, or an array
        (grey, or colour in ``color_order``).
    color_order : {"bgr", "rgb"}
        Channel order of an array ``source``.
    max_pixels : int, optional
        Files with more pixels are refused from their header, before decoding.
    reduce_to : int, optional
        Decode large JPEGs at a reduced size whose longer side stays at least
        this (0: full size); ``scale`` says by how much.

    Returns
    -------
    DecodedImage
        ``array`` (H, W) or (H, W, 3|4) uint8: grey, BGR or BGRA, with the
        EXIF orientation applied (``size`` too).

    Raises
    ------
    ImageTooLarge
        Over ``max_pixels``.
    ImageError
        Missing, empty, truncated or non-image file.
    """
    if isinstance(source, DecodedImage):
        return source
    scale, size = 1.0, None
    if isinstance(source, (bytes, bytearray, memoryview)):  # an encoded file in memory (uploads)
        if not len(source):
            raise ImageError("empty file")
        source, scale, size = _open_image(lambda: io.BytesIO(source), "", max_pixels, reduce_to)
    elif isinstance(source, (str, os.PathLike)):
        path = _check_path(source)
        source, scale, size = _open_image(lambda: path, path, max_pixels, reduce_to)
    if hasattr(source, "mode") and hasattr(source, "convert"):  # a PIL image
        array = _pil_to_array(source)
        color_order = "rgb"
    else:
        array = to_uint8(source)
    if array.size == 0 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ImageError(f"unsupported image array of shape {array.shape}")
    if array.ndim == 3 and array.shape[2] in (3, 4) and color_order == "rgb":
        array = array[..., [2, 1, 0, 3][: array.shape[2]]]
    size = size or (array.shape[1], array.shape[0])
    return DecodedImage(np.ascontiguousarray(array), scale, size)


def load_image(source, color_order="bgr", max_pixels=VIDEO.max_pixels):
    """An image as a numpy array in OpenCV's channel order, at full size.

    See :func:`decode_image` for the parameters and errors.

    Returns
    -------
    (H, W) or (H, W, 3|4) uint8 ndarray
        Grey, BGR or BGRA.
    """
    return decode_image(source, color_order, max_pixels).array


class Recognizer:
    """Find faces and recognise their expressions.

    Parameters
    ----------
    model : str, optional
        A model bundle folder (a ``fer-train`` run); None for the model that
        ships with the package.
    detector : {"dlib", "opencv", "cnn", "dlib+cnn"}, optional
        Face detector (:data:`features.faces.DETECTORS`); the default, for
        photos, is dlib's HOG detector followed by its CNN detector where HOG
        finds nothing.
    upsample : int, optional
        dlib's upsampling, to find faces smaller than about 80 pixels.
    max_side : int, optional
        Larger images are shrunk to this for detection (boxes stay in the
        original pixels).
    tta : bool, optional
        Flip test-time augmentation: average the probabilities of each face
        and of its mirror image (twice the model work).
    max_pixels : int, optional
        Image files with more pixels are refused (:class:`ImageTooLarge`)
        before they are decoded.
    whole_image : bool, optional
        Every image is a face crop already (a FER-2013 face, a passport
        photo): its central square is the face, nothing is detected.
    """

    def __init__(self, model=None, detector=VIDEO.photo_detector, upsample=VIDEO.upsample,
                 max_side=VIDEO.detect_max_side, tta=False, max_pixels=VIDEO.max_pixels, whole_image=False):
        path = model or PRETRAINED
        if model is None and not os.path.isfile(os.path.join(PRETRAINED, "bundle.json")):
            raise BundleError(f"the shipped model is missing from {PRETRAINED}: reinstall the package or pass --model")
        self.bundle = load_bundle(path)
        self.spec = self.bundle.spec
        self.classes = self.bundle.classes
        self.detector, self.upsample, self.max_side, self.tta = detector, upsample, max_side, tta
        self.max_pixels, self.whole_image = max_pixels, whole_image
        # Detection and features run concurrently; the model call is serialised
        # (Keras builds its predict function lazily, which is not thread-safe).
        self._model_lock = threading.Lock()

    def decode(self, image, color_order="bgr"):
        """:func:`decode_image` with this recognizer's limits: large JPEGs are
        decoded at the reduced size that detection would shrink them to anyway."""
        return decode_image(image, color_order, self.max_pixels, reduce_to=self.max_side)

    def detect(self, image, color_order="bgr"):
        """Face boxes ``(x, y, w, h)`` of an image, largest first, in the image's pixels."""
        decoded = self.decode(image, color_order)
        if self.whole_image:
            return [tuple(round(v * decoded.scale) for v in self._whole_box(to_gray(decoded.array)))]
        boxes = detect_faces(to_gray(decoded.array), self.detector, self.max_side, self.upsample)
        return [tuple(round(v * decoded.scale) for v in box) for box in boxes]

    def predict_crops(self, crops):
        """Probabilities and landmarks of grey face crops.

        This is the evaluation path: the bundle's feature specification (as
        conversion's), then the bundle's standardisation and model.

        Parameters
        ----------
        crops : (N, S, S) uint8 ndarray
            Faces cropped by :meth:`features.spec.FeatureSpec.crop` (``S``:
            the specification's ``image_size``, 48 for FER-2013 models).

        Returns
        -------
        probabilities : (N, K) float32 ndarray
        arrays : dict
            The features computed (``landmarks`` always).
        """
        crops = np.asarray(crops, dtype=np.uint8)
        if not len(crops):
            return np.zeros((0, len(self.classes)), np.float32), {}
        arrays = self.spec.extract(crops, landmarks=True, hog=self.spec.needs_hog)
        arrays["images"] = crops
        features = self.spec.stack(arrays)
        if self.tta:  # features outside the lock, like the plain view's
            mirrored = self.spec.mirror_inputs(crops, arrays["landmarks"])
        with self._model_lock:
            probabilities = self.bundle.predict_proba(crops, features)
            if self.tta:
                probabilities = (probabilities + self.bundle.predict_proba(*mirrored)) / 2
        return probabilities, arrays

    def locate(self, gray, boxes=None):
        """The faces of a grey image, ready for :meth:`predict_crops`.

        Parameters
        ----------
        gray : (H, W) uint8 ndarray
        boxes : sequence of (x, y, w, h), optional
            Face boxes to use instead of detecting faces.

        Returns
        -------
        boxes : list of (x, y, w, h)
            Integer boxes, largest first (the whole image with ``whole_image``).
        squares : list of (x0, y0, side)
            The square each crop was cut from.
        crops : (N, S, S) uint8 ndarray
        """
        h, w = gray.shape
        if self.whole_image:
            box = self._whole_box(gray)
            return [box], [(float(box[0]), float(box[1]), float(box[2]))], self.spec.crop_whole(gray)
        if boxes is None:
            boxes = detect_faces(gray, self.detector, self.max_side, self.upsample)
        boxes = [tuple(int(round(v)) for v in b) for b in boxes]
        return boxes, [self.spec.crop_square_in(b, w, h) for b in boxes], self.spec.crop(gray, boxes)

    @staticmethod
    def _whole_box(gray):
        """The central square of an image as an ``(x, y, side, side)`` box."""
        h, w = gray.shape
        side = min(h, w)
        return ((w - side) // 2, (h - side) // 2, side, side)

    def predict(self, image, boxes=None, color_order="bgr"):
        """Recognise the expression of every face in an image.

        Parameters
        ----------
        image : str, os.PathLike, bytes, PIL.Image.Image, ndarray or DecodedImage
            Path, encoded file bytes, PIL image, or array (grey, BGR, BGRA,
            or RGB(A) with ``color_order="rgb"``), any size up to the
            recognizer's ``max_pixels``.
        boxes : sequence of (x, y, w, h), optional
            Face boxes to use instead of detecting faces (in the file's pixels).
        color_order : {"bgr", "rgb"}, optional

        Returns
        -------
        list of dict
            One per face, largest first: ``box`` ([x, y, width, height] in
            image pixels), ``label``, ``confidence``, ``probabilities``
            (class name to probability) and ``landmarks`` (68 [x, y] points
            in image pixels).
        """
        decoded = self.decode(image, color_order)
        gray = to_gray(decoded.array)
        if boxes is not None:  # given in the file's pixels
            boxes = [tuple(v / decoded.scale for v in b) for b in boxes]
        boxes, squares, crops = self.locate(gray, boxes)
        probabilities, arrays = self.predict_crops(crops)
        return [self._face(box, square, p, lm, decoded.scale)
                for box, square, p, lm in zip(boxes, squares, probabilities, arrays.get("landmarks", []))]

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
            made it unusable (:class:`ImageTooLarge` over ``max_pixels``).
        """
        results, crops, owners, faces = [], [], [], []
        for i, source in enumerate(sources):
            try:
                decoded = self.decode(source, color_order)
            except ImageError as e:
                results.append(e)
                continue
            results.append([])
            boxes, squares, found = self.locate(to_gray(decoded.array))
            if len(found):
                crops.append(found)
                owners.extend([i] * len(boxes))
                faces.extend((box, square, decoded.scale) for box, square in zip(boxes, squares))
        if crops:
            probabilities, arrays = self.predict_crops(np.concatenate(crops))
            for i, (box, square, scale), p, lm in zip(owners, faces, probabilities, arrays["landmarks"]):
                results[i].append(self._face(box, square, p, lm, scale))
        return results

    def _face(self, box, square, probabilities, landmarks, scale=1.0):
        """One face's result; ``square`` is the crop's ``(x0, y0, side)`` in the
        decoded image, ``scale`` maps the decoded image's pixels to the file's."""
        x0, y0, side = square  # landmarks back from the crop to the image
        k = side / self.spec.image_size
        best = int(np.argmax(probabilities))
        x0, y0, k = x0 * scale, y0 * scale, k * scale
        return {
            "box": [int(round(v * scale)) for v in box],
            "label": self.classes[best],
            "confidence": float(probabilities[best]),
            "probabilities": {c: float(p) for c, p in zip(self.classes, probabilities)},
            "landmarks": [[round(float(x0 + (px + 0.5) * k - 0.5), 1), round(float(y0 + (py + 0.5) * k - 0.5), 1)]
                          for px, py in landmarks],
        }
