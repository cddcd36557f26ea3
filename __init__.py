"""fer-toolkit: facial expression recognition on FER-2013 and on your own photos.

The repository's top level is this package, installed as ``fer_toolkit``::

    from fer_toolkit import Recognizer
    faces = Recognizer().predict("photo.jpg")

The names below load on first use, so ``import fer_toolkit`` is instant and
TensorFlow is imported only when a model is built or read.
"""

from .parameters import VERSION as __version__

#: Public name -> (module inside the package, attribute).
_API = {
    "Recognizer": ("models.recognizer", "Recognizer"),
    "load_image": ("features.images", "load_image"),
    "ImageError": ("features.faces", "ImageError"),
    "convert": ("features.conversion", "convert"),
    "FeatureSpec": ("features.spec", "FeatureSpec"),
    "TrainingConfig": ("models.config", "TrainingConfig"),
    "train": ("models.train", "train"),
    "evaluate": ("models.evaluate", "evaluate"),
    "load_bundle": ("models.bundle", "load_bundle"),
}


def __getattr__(name):
    if name in _API:
        from importlib import import_module

        module, attribute = _API[name]
        value = getattr(import_module(f".{module}", __name__), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])


__all__ = ["__version__", *_API]
