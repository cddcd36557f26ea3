"""CNN models A and B with feature fusion, the SVM baseline, training,
evaluation, and recognition of expressions in images (:class:`Recognizer`).

Importing this package loads nothing heavy: Keras and TensorFlow load when a
model is built or read (:mod:`models.backend`).
"""


def __getattr__(name):
    if name == "Recognizer":
        from .recognizer import Recognizer

        return Recognizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Recognizer"]
