"""Model bundles: a trained model plus everything needed to use it.

A bundle is a folder holding ``bundle.json`` (classes, feature set,
normalisation statistics, training arguments, toolkit version, metrics) and
the model itself: ``model.keras`` for a CNN, ``model.skops`` for an SVM.
Training writes one, evaluation and prediction read it.
"""

import json
import os

import numpy as np

from parameters import FEATURE_SETS, VERSION

BUNDLE_JSON = "bundle.json"
FORMAT = "fer-toolkit-bundle"
MODEL_FILES = {"cnn": "model.keras", "svm": "model.skops"}


class BundleError(Exception):
    """A missing, corrupt or incompatible bundle (one line)."""


def atomic_write_json(path, data):
    """Write JSON to a temporary file, then rename it over ``path``."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def model_inputs(images, features):
    """The input dict of a CNN bundle's Keras model.

    Parameters
    ----------
    images : (N, 48, 48) uint8 ndarray
    features : (N, D) ndarray
        Standardised features (D = 0 for an image-only model).

    Returns
    -------
    dict
        ``image`` (N, 48, 48, 1) float32 and, when D > 0, ``features``.
    """
    inputs = {"image": np.asarray(images, dtype=np.float32)[..., None]}
    if features.shape[1]:
        inputs["features"] = features
    return inputs


def save_keras(model, path):
    """Save a Keras model atomically (temporary file, then rename)."""
    tmp = path.replace(".keras", ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


class Standardizer:
    """Per-dimension standardisation with statistics from the Training split.

    Parameters
    ----------
    mean, std : (D,) array_like
    """

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)

    @classmethod
    def fit(cls, features):
        """Statistics of a (N, D) feature matrix (constant columns get std 1)."""
        features = np.asarray(features, dtype=np.float64)
        std = features.std(axis=0)
        return cls(features.mean(axis=0), np.where(std > 1e-6, std, 1.0))

    def __call__(self, features):
        """Standardised (N, D) float32 features."""
        features = np.asarray(features, dtype=np.float32)
        if features.shape[1] != self.mean.shape[0]:
            raise BundleError(
                f"features have {features.shape[1]} dimensions, the bundle expects {self.mean.shape[0]}"
            )
        return (features - self.mean) / self.std

    def to_json(self):
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


class Bundle:
    """A loaded bundle.

    Attributes
    ----------
    path : str
    meta : dict
        The contents of ``bundle.json``.
    model : keras.Model or sklearn estimator
    standardizer : Standardizer
    """

    def __init__(self, path, meta, model):
        self.path = path
        self.meta = meta
        self.model = model
        norm = meta.get("normalization") or {"mean": [], "std": []}
        self.standardizer = Standardizer(norm["mean"], norm["std"])

    @property
    def classes(self):
        return list(self.meta["classes"])

    @property
    def feature_set(self):
        return self.meta["feature_set"]

    @property
    def kind(self):
        return self.meta["kind"]

    def predict_proba(self, images, features, batch_size=256):
        """Class probabilities.

        Parameters
        ----------
        images : (N, 48, 48) uint8 ndarray
        features : (N, D) ndarray
            Raw (unstandardised) stacked features of the bundle's feature set.

        Returns
        -------
        (N, n_classes) float32 ndarray
        """
        features = self.standardizer(features)
        if self.kind == "svm":
            from .svm import svm_probabilities

            return svm_probabilities(self.model, features)
        inputs = model_inputs(images, features)
        out = []
        # predict_on_batch reuses one compiled function: no per-call set-up,
        # so one face costs a few milliseconds, and every caller (evaluation,
        # prediction) runs the same computation.
        for start in range(0, len(images), batch_size):
            batch = {k: v[start : start + batch_size] for k, v in inputs.items()}
            out.append(np.asarray(self.model.predict_on_batch(batch), dtype=np.float32))
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)


def make_meta(kind, classes, class_ids, feature_set, standardizer, train_args, **extra):
    """The contents of a new ``bundle.json``."""
    return {
        "format": FORMAT,
        "toolkit_version": VERSION,
        "kind": kind,
        "classes": list(classes),
        "class_ids": list(class_ids),
        "feature_set": feature_set,
        "normalization": standardizer.to_json(),
        "train_args": train_args,
        "metrics": {},
        **extra,
    }


def save_model(run_dir, model, kind):
    """Save the model file of a bundle atomically."""
    path = os.path.join(run_dir, MODEL_FILES[kind])
    if kind == "cnn":
        save_keras(model, path)
    else:
        import skops.io

        skops.io.dump(model, f"{path}.tmp")
        os.replace(f"{path}.tmp", path)


def save_bundle(run_dir, model, meta):
    """Write a complete bundle (model file, then ``bundle.json``)."""
    os.makedirs(run_dir, exist_ok=True)
    save_model(run_dir, model, meta["kind"])
    atomic_write_json(os.path.join(run_dir, BUNDLE_JSON), meta)


def read_meta(path):
    """``bundle.json`` of a bundle folder, checked."""
    json_path = os.path.join(path, BUNDLE_JSON)
    if not os.path.isdir(path):
        raise BundleError(f"{path}: no such model bundle (a folder written by fer-train)")
    try:
        with open(json_path) as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise BundleError(f"{path}: not a model bundle ({BUNDLE_JSON} missing)") from None
    except (OSError, ValueError) as e:
        raise BundleError(f"{json_path}: corrupt bundle description ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{json_path}: not a fer-toolkit bundle")
    if meta.get("kind") not in MODEL_FILES or meta.get("feature_set") not in FEATURE_SETS:
        raise BundleError(f"{json_path}: unknown model kind or feature set")
    return meta


def load_bundle(path):
    """Load a bundle folder.

    Parameters
    ----------
    path : str

    Returns
    -------
    Bundle

    Raises
    ------
    BundleError
        Missing, corrupt or incompatible bundle.
    """
    meta = read_meta(path)
    model_path = os.path.join(path, MODEL_FILES[meta["kind"]])
    if not os.path.isfile(model_path):
        raise BundleError(f"{path}: model file {MODEL_FILES[meta['kind']]} missing")
    try:
        if meta["kind"] == "cnn":
            import keras

            model = keras.models.load_model(model_path, compile=False)
        else:
            import skops.io

            untrusted = skops.io.get_untrusted_types(file=model_path)
            allowed = [t for t in untrusted if t.startswith(("sklearn.", "numpy."))]
            if len(allowed) != len(untrusted):
                raise BundleError(f"{model_path}: refuses to load untrusted types {sorted(set(untrusted) - set(allowed))}")
            model = skops.io.load(model_path, trusted=allowed)
    except BundleError:
        raise
    except Exception as e:  # corrupt archives raise many kinds of errors
        raise BundleError(f"{model_path}: corrupt or incompatible model file ({type(e).__name__}: {e})") from None
    return Bundle(path, meta, model)


def export_bundle(run_dir, dest):
    """Copy a bundle without training state (optimizer, checkpoints), e.g. to ship it.

    Parameters
    ----------
    run_dir : str
        A ``fer-train`` run folder.
    dest : str
        Folder to write ``bundle.json`` and the model file to.
    """
    bundle = load_bundle(run_dir)
    os.makedirs(dest, exist_ok=True)
    save_model(dest, bundle.model, bundle.kind)  # loaded without compiling: no optimizer state
    atomic_write_json(os.path.join(dest, BUNDLE_JSON), bundle.meta)
