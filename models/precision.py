"""Mixed precision training: computation in bfloat16, weights in float32, bundles saved in float32.

Keras' ``mixed_bfloat16`` policy makes each layer compute in bfloat16 while
keeping its variables in float32; the classification layer stays float32
throughout (a softmax and its loss in bfloat16 lose precision). On CPUs
with AMX or AVX512-BF16, oneDNN runs the convolutions far faster in
bfloat16 (BENCHMARKS.md, "Training in bfloat16"). A run's checkpoints keep
the policy, so that ``--resume`` continues as it started; the bundle's model
is a float32 copy with the same weights, so prediction, evaluation, LiteRT
and fine-tuning see the same kind of model whatever the run's precision.
"""

import contextlib

from .backend import import_keras
from .config import CHOICES

#: The precisions ``fer-train --precision`` takes (``parameters.Training.precision``).
PRECISIONS = CHOICES["precision"]


def check_precision(precision):
    """Raise a one-line ``ValueError`` unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} ({', '.join(PRECISIONS)})")


@contextlib.contextmanager
def dtype_policy(precision):
    """Build layers under Keras' global dtype policy ``precision``, restored on leaving.

    Parameters
    ----------
    precision : {"float32", "mixed_bfloat16"}
    """
    check_precision(precision)
    keras = import_keras()
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def model_precision(model):
    """``"mixed_bfloat16"`` if any layer of ``model`` computes in bfloat16, else ``"float32"``."""
    return "mixed_bfloat16" if any(getattr(layer, "compute_dtype", None) == "bfloat16"
                                   for layer in model.layers) else "float32"


def with_precision(model, precision):
    """``model`` itself, or a copy with the same weights that computes in ``precision``.

    Every layer but the model's output layers takes the policy; those stay
    float32 (the probabilities and the loss on them).

    Parameters
    ----------
    model : keras.Model
        A functional model (models A and B, and fine-tuned ones).
    precision : {"float32", "mixed_bfloat16"}

    Returns
    -------
    keras.Model
        Not compiled when it is a copy.
    """
    check_precision(precision)
    if model_precision(model) == precision:
        return model
    keras = import_keras()
    outputs = {tensor._keras_history[0].name for tensor in model.outputs}

    def clone(layer):
        config = layer.get_config()
        config["dtype"] = "float32" if layer.name in outputs else precision
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
