"""Image files and arrays decoded safely: sizes checked from the header before
any pixel is decoded, EXIF orientation applied, OpenCV's channel order out."""

import io
import math
import os
import warnings
from collections import namedtuple

import cv2
import numpy as np

from ..parameters import VIDEO

from .faces import ImageError, to_gray, to_uint8


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
                orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
                if orientation in (5, 6, 7, 8):  # turned by 90 degrees
                    w, h = h, w
                if orientation in (2, 3, 4, 5, 6, 7, 8):
                    img = ImageOps.exif_transpose(img)
                return img, scale, (w, h)
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


def decode_image(source, color_order="bgr", max_pixels=VIDEO.max_pixels, reduce_to=0, grey=False):
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
    grey : bool, optional
        Return the grey image, converted straight from the decoded colours
        (the same pixels as :func:`features.faces.to_gray` of the BGR array,
        without making that array: half the time of a 640x480 JPEG).

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
        if grey:
            array = cv2.cvtColor(array, cv2.COLOR_RGB2GRAY if array.shape[2] == 3 else cv2.COLOR_RGBA2GRAY)
        else:
            array = array[..., [2, 1, 0, 3][: array.shape[2]]]
    if grey:
        array = to_gray(array)
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
