"""The settings of a training run, as one typed value checked before any data loads."""

from dataclasses import asdict, dataclass, fields, replace

from ..features.util import unknown_keys
from ..parameters import DATASET, FEATURE_SETS, FEATURES, Hyperparameters, Network, Svm, Training

#: The allowed values of the settings that name a choice.
CHOICES = {
    "model": ("A", "B", "svm"),
    "features": tuple(FEATURE_SETS),
    "optimizer": ("sgd", "adam", "rmsprop"),
    "imbalance": ("none", "class_weights", "focal", "oversample"),
    "distribute": ("none", "mirrored", "multiworker"),
    "precision": ("float32", "mixed_bfloat16"),
    "svm_kernel": ("linear", "rbf"),
}

#: Lower and upper bounds (inclusive; None: open) of numeric settings.
RANGES = {
    "learning_rate": (1e-8, None), "momentum": (0.0, 1.0), "beta1": (0.0, 1.0), "decay": (1e-3, 1.0),
    "batch_size": (1, 1 << 16), "epochs": (0, None), "weight_decay": (0.0, None), "label_smoothing": (0.0, 0.99),
    "focal_gamma": (0.0, None), "keep_prob": (1e-3, 1.0), "seed": (0, 2**32 - 1),
    "early_stopping_patience": (1, None), "plateau_patience": (1, None), "plateau_factor": (1e-3, 1.0),
    "min_learning_rate": (0.0, None), "max_shift": (0, 24), "max_rotation_deg": (0.0, 180.0),
    "max_scale": (0.0, 0.5),
    "noise_std": (0.0, None), "cutout_size": (1, 48), "cutout_prob": (0.0, 1.0), "sharpness_prob": (0.0, 1.0),
    "swa_epochs": (0, None), "swa_learning_rate": (0.0, 10.0), "train_limit": (0, None), "val_limit": (0, None),
    "spatial_dropout": (0.0, 0.9), "flip_prob": (0.0, 1.0), "svm_c": (1e-12, None), "svm_gamma": (0.0, None), "svm_components": (1, None), "svm_max_iter": (1, None),
    "image_units": (1, None), "fusion_units": (1, None), "cpu_devices": (0, 1024),
    "freeze_epochs": (0, None), "teacher_weight": (0.0, 1.0),
}


class ConfigError(ValueError):
    """A training setting of the wrong type or out of range (one line).

    Attributes
    ----------
    field : str or None
        The setting at fault.
    """

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TrainingConfig(Svm, Training, Hyperparameters, Network):
    """Every setting of a training run: the network, the optimisation, how the
    run is driven, and the SVM baseline's (defaults: ``parameters.py``).

    Build one with keywords, from a dict (:meth:`from_dict`) or change one with
    :func:`dataclasses.replace`; every value is checked on creation.

    Raises
    ------
    ConfigError
    """

    #: Output folder of ``fer-convert``.
    data: str = DATASET.features_dir
    #: Feature set fused with the image (a key of ``parameters.FEATURE_SETS``).
    features: str = FEATURES.feature_set
    #: Deterministic TensorFlow ops (slower).
    deterministic: bool = False
    #: Split the CPU into this many logical devices (to try ``distribute="mirrored"``).
    cpu_devices: int = 0
    #: Cap on the PublicTest rows used for validation (0: all).
    val_limit: int = 0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type is tuple and isinstance(value, list):
                object.__setattr__(self, f.name, value := tuple(value))
            _check_type(f.name, value, f.type)
        model = self.model.lower() if self.model.lower() == "svm" else self.model.upper()
        object.__setattr__(self, "model", model)
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"unknown {name} {str(getattr(self, name))[:40]!r} (choose from {', '.join(allowed)})",
                                  name)
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if (low is not None and value < low) or (high is not None and value > high):
                bounds = f"{low}..{high}" if high is not None else f"{low} or more"
                raise ConfigError(f"{name} must be {bounds}, got {value}", name)
        for name in ("filters_a", "filters_b", "feature_units"):
            value = getattr(self, name)
            if not value or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
                raise ConfigError(f"{name} must be positive integers, got {str(value)[:60]}", name)
        low, high = self.contrast_range if len(self.contrast_range) == 2 else (None, None)
        if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and 0 < low <= high):
            raise ConfigError(f"contrast_range must be two numbers 0 < low <= high, got {self.contrast_range}",
                              "contrast_range")
        if self.freeze_epochs and not self.init:
            raise ConfigError("freeze_epochs needs init: a model to fine-tune (--init BUNDLE or --init shipped)",
                              "freeze_epochs")
        if not all(isinstance(t, str) and t.strip() for t in self.teacher):
            raise ConfigError(f"teacher must name model bundles or shipped models, got {str(self.teacher)[:60]}",
                              "teacher")
        if self.teacher and self.model == "svm":
            raise ConfigError("teacher distils into a CNN: it does not apply to the SVM", "teacher")
        if self.init and self.model == "svm":
            raise ConfigError("init fine-tunes a CNN: it does not apply to the SVM", "init")
        if self.model == "svm" and self.features == "none":
            raise ConfigError("the SVM needs features: choose a feature set other than 'none'", "features")

    @classmethod
    def from_dict(cls, values, defaults=None):
        """A configuration from a dict (``--params`` files, run states, search trials).

        Parameters
        ----------
        values : dict
            Settings by name; the others keep ``defaults``'.
        defaults : TrainingConfig, optional

        Raises
        ------
        ConfigError
            An unknown setting, or a bad value.
        """
        try:
            unknown = unknown_keys(values, cls)
        except ValueError as e:
            raise ConfigError(f"settings {e}") from None
        if unknown:
            raise ConfigError(f"unknown setting(s): {unknown}")
        return replace(defaults or cls(), **values)

    def to_json(self):
        """The settings as a JSON-ready dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def updated(self, **changes):
        """A copy with some settings changed (checked)."""
        return replace(self, **changes)


def _check_type(name, value, kind):
    """Raise :class:`ConfigError` unless ``value`` has the setting's type
    (an integer passes for a float, a boolean for nothing else)."""
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf"),
        str: lambda v: isinstance(v, str),
        tuple: lambda v: isinstance(v, tuple),
    }[kind](value)
    if not ok:
        raise ConfigError(f"{name} must be {'a' if kind is not int else 'an'} {kind.__name__}, "
                          f"got {type(value).__name__} {str(value)[:40]}", name)
