"""CNN models A and B with feature fusion, the SVM baseline, training,
evaluation, and recognition of expressions in images (:class:`Recognizer`)."""

import os


def _import_tensorflow_quietly():
    """Import TensorFlow with its C++ start-up log lines silenced (only an
    environment variable set before Python starts stops them otherwise)."""
    from features.util import quiet_stderr

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


_import_tensorflow_quietly()


def __getattr__(name):
    if name == "Recognizer":
        from .recognizer import Recognizer

        return Recognizer
    raise AttributeError(name)


__all__ = ["Recognizer"]
