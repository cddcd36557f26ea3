"""Model bundles: a trained model plus everything needed to use it.

A bundle is a folder holding ``bundle.json`` (classes, the feature
specification, normalisation statistics, training arguments, toolkit version,
metrics; for an ensemble merged into one model, its members' records) and
the model itself: ``model.keras`` for a CNN, ``model.skops`` for an SVM.
Training writes one, evaluation and prediction read it.
"""

import json
import os
import zipfile

import numpy as np

from ..features.spec import FeatureSpec, SpecError
from ..features.util import atomic_path, atomic_write_json
from ..parameters import DEFAULT_MODEL, FEATURE_SETS, SHIPPED_ALIAS, VERSION
from .backend import import_keras

BUNDLE_JSON = "bundle.json"
FORMAT = "fer-toolkit-bundle"
MODEL_FILES = {"cnn": "model.keras", "svm": "model.skops"}
#: Largest ``bundle.json`` read (the shipped model's is about 90 KB).
MAX_BUNDLE_JSON_BYTES = 64 << 20


#: Every node that an SVM bundle written by ``fer-train --model svm`` holds (both
#: kernels), as skops records it: ``(loader, fully qualified type)``. A
#: ``model.skops`` with any other node (a function, a method, another
#: estimator such as ``FunctionTransformer``) is refused before anything in it
#: is loaded: skops' own defaults trust far more than this toolkit writes.
SVM_NODES = frozenset({
    ("ObjectNode", "sklearn.pipeline.Pipeline"),
    ("ObjectNode", "sklearn.kernel_approximation.Nystroem"),
    ("ObjectNode", "sklearn.svm._classes.LinearSVC"),
    ("NdArrayNode", "numpy.ndarray"),
    ("DictNode", "builtins.dict"),
    ("ListNode", "builtins.list"),
    ("TupleNode", "builtins.tuple"),
    ("JsonNode", "builtins.str"),
    ("TypeNode", "builtins.str"),
})
#: Largest ``schema.json`` read from a ``model.skops`` (the toolkit's are a few KB).
MAX_SKOPS_SCHEMA_BYTES = 1 << 20


#: The folder of the models that ship with the package, one bundle folder each, by name.
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
#: The shipped models' names (``--model NAME``, ``Recognizer(NAME)``, ``fer-train --init NAME``):
#: fer2013, trained on FER-2013's labels (7 classes), and ferplus, on FERPlus' votes (8 classes).
SHIPPED_MODELS = ("fer2013", "ferplus")
#: The default model's bundle (``--model`` not given).
PRETRAINED = os.path.join(SHIPPED_DIR, DEFAULT_MODEL)
#: The FER-2013 model's bundle (``--model fer2013``, and ``"shipped"``).
FER2013_MODEL = os.path.join(SHIPPED_DIR, SHIPPED_ALIAS)

class BundleError(Exception):
    """A missing, corrupt or incompatible bundle (one line)."""


def resolve_model(model):
    """The bundle folder that a model argument names.

    Parameters
    ----------
    model : str or os.PathLike or None
        A shipped model's name (:data:`SHIPPED_MODELS`; ``"shipped"`` for
        ``parameters.SHIPPED_ALIAS``, the FER-2013 model; None for
        ``parameters.DEFAULT_MODEL``) or a bundle folder. A name wins over a
        folder of the same name in the working folder (write ``./ferplus``
        for that one).

    Returns
    -------
    str

    Raises
    ------
    BundleError
        A shipped model that is missing from the installed package.
    """
    if model is None:
        model = DEFAULT_MODEL
    elif model == "shipped":
        model = SHIPPED_ALIAS
    if model not in SHIPPED_MODELS:
        return os.fspath(model)
    path = os.path.join(SHIPPED_DIR, model)
    if not os.path.isfile(os.path.join(path, BUNDLE_JSON)):
        raise BundleError(f"the shipped model {model!r} is missing from {SHIPPED_DIR}: reinstall the package, "
                          "or pass a bundle folder")
    return path


def is_shipped(path):
    """Whether a bundle folder is one of the models inside the installed package."""
    return os.path.dirname(os.path.abspath(path)) == SHIPPED_DIR


def skops_nodes(path):
    """The ``(loader, type)`` of every node of a skops file, read from its
    schema without loading anything.

    Parameters
    ----------
    path : str
        A ``.skops`` archive.

    Returns
    -------
    set of (str, str)

    Raises
    ------
    BundleError
        Not a skops archive, or a schema too large or malformed to inspect.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("schema.json")
            if info.file_size > MAX_SKOPS_SCHEMA_BYTES:
                raise BundleError(f"{path}: schema.json is {info.file_size:,} bytes, over the "
                                  f"{MAX_SKOPS_SCHEMA_BYTES:,} a model of this toolkit can have")
            schema = json.loads(archive.read(info))
    except BundleError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, RecursionError) as e:
        raise BundleError(f"{path}: not a readable skops archive ({type(e).__name__})") from None
    nodes, stack = set(), [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__loader__" in node or "__class__" in node:
                nodes.add((str(node.get("__loader__")), f"{node.get('__module__')}.{node.get('__class__')}"))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return nodes


def load_svm(path):
    """Load an SVM pipeline saved by the toolkit, refusing any other content.

    Every node must be in :data:`SVM_NODES` (exact types, no prefixes), so a
    crafted file cannot make loading or prediction call a function of its
    choosing.

    Raises
    ------
    BundleError
        A node outside the allow-list, or an unreadable file.
    """
    import skops.io

    refused = sorted(f"{t} ({loader})" for loader, t in skops_nodes(path) - SVM_NODES)
    if refused:
        shown = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        raise BundleError(f"{path}: refuses to load types that fer-train never writes: {shown}")
    untrusted = skops.io.get_untrusted_types(file=path)  # all within the allow-list, checked above
    return skops.io.load(path, trusted=untrusted)


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


#: How a bundle's Keras weights may be stored (``weights`` of :func:`save_keras`).
WEIGHT_DTYPES = ("float32", "float16")


def check_weights(weights):
    """Raise a one-line ``ValueError`` unless ``weights`` is one of :data:`WEIGHT_DTYPES`."""
    if weights not in WEIGHT_DTYPES:
        raise ValueError(f"unknown weights {weights!r} ({', '.join(WEIGHT_DTYPES)})")


def save_keras(model, path, weights="float32"):
    """Save a Keras model atomically (temporary file, then rename).

    Parameters
    ----------
    model : keras.Model
    path : str
        A ``.keras`` file.
    weights : {"float32", "float16"}, optional
        How the weights are stored. ``float16`` halves the file (for shipped
        models: the package stays small); Keras casts them back to the
        model's float32 variables when it loads the file, so only their
        rounding changes (BENCHMARKS.md, "Shipped weights in float16").
    """
    check_weights(weights)
    with atomic_path(path) as tmp:
        model.save(tmp)
        if weights == "float16":
            _halve_weights(tmp)


def _copy_h5(source, target):
    """Copy an HDF5 group's attributes, groups and datasets, float32 datasets as float16."""
    for key, value in source.attrs.items():
        target.attrs[key] = value
    for name, item in source.items():
        if hasattr(item, "dtype"):  # a dataset
            data = item[()]
            copied = target.create_dataset(name, data=data.astype(np.float16) if data.dtype == np.float32 else data)
            for key, value in item.attrs.items():
                copied.attrs[key] = value
        else:
            _copy_h5(item, target.create_group(name))


def _halve_weights(path):
    """Rewrite a ``.keras`` archive that this process has just written with its float32 weights as float16."""
    import io

    import h5py

    with zipfile.ZipFile(path) as archive:
        members = [(info.filename, archive.read(info.filename)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            if name.endswith(".h5"):
                out = io.BytesIO()
                with h5py.File(io.BytesIO(data), "r") as source, h5py.File(out, "w") as target:
                    _copy_h5(source, target)
                data = out.getvalue()
            archive.writestr(name, data)


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
    spec : features.spec.FeatureSpec
        How faces become this model's inputs (bundles from before
        specifications were recorded: ``parameters.FEATURES_BEFORE_SPEC``).
    """

    def __init__(self, path, meta, model):
        self.path = path
        self.meta = meta
        self.model = model
        norm = meta.get("normalization") or {"mean": [], "std": []}
        self.standardizer = Standardizer(norm["mean"], norm["std"])
        self.spec = bundle_spec(meta)

    @property
    def classes(self):
        """The class names, in the order of the model's outputs."""
        return list(self.meta["classes"])

    @property
    def feature_set(self):
        """The feature set fused with the image (a key of ``parameters.FEATURE_SETS``)."""
        return self.meta["feature_set"]

    @property
    def kind(self):
        """``"cnn"`` (model A or B) or ``"svm"``."""
        return self.meta["kind"]

    def predict_proba(self, images, features, batch_size=256):
        """Class probabilities.

        Parameters
        ----------
        images : (N, S, S) uint8 ndarray
        features : (N, D) ndarray
            Raw (unstandardised) stacked features of the bundle's feature set
            (:meth:`features.spec.FeatureSpec.compute` of :attr:`spec`).

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


def mean_over_views(predict_proba, probabilities, views):
    """Test-time augmentation's mean: probabilities of the faces as given,
    averaged with those of each other view.

    Parameters
    ----------
    predict_proba : callable
        ``predict_proba(images, features)``, as :meth:`Bundle.predict_proba`.
    probabilities : (N, K) ndarray
        Of the faces as given.
    views : list of (images, features)
        The other views (:meth:`features.spec.FeatureSpec.tta_inputs`).

    Returns
    -------
    (N, K) ndarray
    """
    return (probabilities + sum(predict_proba(*view) for view in views)) / (1 + len(views))


def bundle_spec(meta):
    """The feature specification of a ``bundle.json``'s contents.

    Raises
    ------
    SpecError
        A malformed specification.
    """
    return FeatureSpec.from_json(meta.get("feature_spec"), feature_set=meta["feature_set"])


def make_meta(kind, classes, class_ids, spec, standardizer, train_args, **extra):
    """The contents of a new ``bundle.json``.

    Parameters
    ----------
    spec : features.spec.FeatureSpec
        The specification of the data the model was trained on, with its feature set.
    """
    return {
        "format": FORMAT,
        "toolkit_version": VERSION,
        "kind": kind,
        "classes": list(classes),
        "class_ids": list(class_ids),
        "feature_set": spec.feature_set,
        "feature_spec": spec.to_json(),
        "normalization": standardizer.to_json(),
        "train_args": train_args,
        "metrics": {},
        **extra,
    }


def save_model(run_dir, model, kind, weights="float32"):
    """Save the model file of a bundle atomically (``weights``: a CNN's, as :func:`save_keras` stores them)."""
    path = os.path.join(run_dir, MODEL_FILES[kind])
    if kind == "cnn":
        save_keras(model, path, weights)
    else:
        import skops.io

        with atomic_path(path) as tmp:
            skops.io.dump(model, tmp)


def save_bundle(run_dir, model, meta):
    """Write a complete bundle (model file, then ``bundle.json``)."""
    os.makedirs(run_dir, exist_ok=True)
    save_model(run_dir, model, meta["kind"])
    atomic_write_json(os.path.join(run_dir, BUNDLE_JSON), meta)


def _number_list(value):
    """Whether ``value`` is a list of finite numbers (booleans excluded)."""
    return isinstance(value, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value)


def validate_meta(meta, json_path):
    """Check the contents of a ``bundle.json`` against its schema.

    Parameters
    ----------
    meta : object
        The parsed JSON.
    json_path : str
        Named in the error.

    Raises
    ------
    BundleError
        One line naming the file and the first field that is wrong.
    """
    def wrong(field, problem):
        return BundleError(f"{json_path}: field {field!r} {problem}")

    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{json_path}: not a fer-toolkit bundle (no 'format': {FORMAT!r})")
    if meta.get("kind") not in MODEL_FILES:
        raise wrong("kind", f"must be one of {', '.join(MODEL_FILES)}")
    if meta.get("feature_set") not in FEATURE_SETS:
        raise wrong("feature_set", f"must be one of {', '.join(FEATURE_SETS)}")
    classes = meta.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
        raise wrong("classes", f"must be a list of class names, got {type(classes).__name__}")
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise wrong("classes", "must name at least two distinct classes")
    class_ids = meta.get("class_ids", list(range(len(classes))))
    if not isinstance(class_ids, list) or len(class_ids) != len(classes) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in class_ids):
        raise wrong("class_ids", "must be a list of integers, one per class")
    norm = meta.get("normalization")
    if not isinstance(norm, dict):
        raise wrong("normalization", "must be an object with 'mean' and 'std'")
    for key in ("mean", "std"):
        if not _number_list(norm.get(key)):
            raise wrong(f"normalization.{key}", "must be a list of finite numbers")
    if len(norm["mean"]) != len(norm["std"]):
        raise wrong("normalization.std", f"has {len(norm['std'])} values for {len(norm['mean'])} means")
    if any(v <= 0 for v in norm["std"]):
        raise wrong("normalization.std", "must be positive (a standard deviation of 0 or below)")
    try:
        spec = bundle_spec(meta)
    except SpecError as e:
        raise BundleError(f"{json_path}: {e}") from None
    if "feature_spec" in meta and meta["feature_spec"].get("feature_set", spec.feature_set) != spec.feature_set:
        raise wrong("feature_spec.feature_set", f"is {meta['feature_spec']['feature_set']!r}, but 'feature_set' "
                                                f"is {spec.feature_set!r}")
    if len(norm["mean"]) != spec.n_features:
        raise wrong("normalization.mean", f"has {len(norm['mean'])} dimensions, but feature set "
                                          f"{meta['feature_set']!r} has {spec.n_features} ({spec.describe()})")
    for key in ("train_args", "metrics"):
        if key in meta and not isinstance(meta[key], dict):
            raise wrong(key, "must be an object")
    if "ensemble" in meta:
        members = meta["ensemble"].get("members") if isinstance(meta["ensemble"], dict) else None
        if not isinstance(members, list) or len(members) < 2 or not all(isinstance(m, dict) for m in members):
            raise wrong("ensemble", "must be an object whose 'members' lists at least two objects")
        if meta["kind"] != "cnn":
            raise wrong("ensemble", "is only for CNN bundles")


def read_meta(path):
    """``bundle.json`` of a bundle folder (or a shipped model's name, :func:`resolve_model`),
    checked by :func:`validate_meta`."""
    path = resolve_model(path)
    json_path = os.path.join(path, BUNDLE_JSON)
    if not os.path.isdir(path):
        raise BundleError(f"{path}: no such model bundle (a folder written by fer-train)")
    try:
        if os.path.getsize(json_path) > MAX_BUNDLE_JSON_BYTES:
            raise BundleError(f"{json_path}: over {MAX_BUNDLE_JSON_BYTES >> 20} MB, not a bundle description")
        with open(json_path, "rb") as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise BundleError(f"{path}: not a model bundle ({BUNDLE_JSON} missing)") from None
    except (OSError, ValueError, RecursionError) as e:
        raise BundleError(f"{json_path}: corrupt bundle description ({str(e)[:120]})") from None
    validate_meta(meta, json_path)
    return meta


def check_model(model, meta, model_path):
    """Raise a one-line :class:`BundleError` when a loaded model does not fit its ``bundle.json``.

    The feature input must have as many dimensions as the normalisation
    statistics, and the output one value per class.
    """
    n_features, n_classes = len(meta["normalization"]["mean"]), len(meta["classes"])
    if meta["kind"] == "svm":
        got_features = getattr(model, "n_features_in_", None)
        got_classes = len(getattr(model, "classes_", []))
    else:
        shapes = {t.name.split(":")[0]: t.shape for t in model.inputs}
        size = bundle_spec(meta).image_size
        if "image" not in shapes or tuple(shapes["image"][1:]) != (size, size, 1):
            raise BundleError(f"{model_path}: the model has no {size}x{size}x1 'image' input")
        got_features = shapes["features"][-1] if "features" in shapes else 0
        got_classes = model.outputs[0].shape[-1]
    if got_features != n_features:
        raise BundleError(f"{model_path}: the model takes {got_features} features, bundle.json's "
                          f"normalization has {n_features}")
    if got_classes != n_classes:
        raise BundleError(f"{model_path}: the model gives {got_classes} classes, bundle.json names {n_classes}")


def load_bundle(path):
    """Load a bundle folder.

    Parameters
    ----------
    path : str
        A bundle folder, or a shipped model's name (:func:`resolve_model`).

    Returns
    -------
    Bundle

    Raises
    ------
    BundleError
        Missing, corrupt or incompatible bundle.
    """
    path = resolve_model(path)
    meta = read_meta(path)
    model_path = os.path.join(path, MODEL_FILES[meta["kind"]])
    if not os.path.isfile(model_path):
        raise BundleError(f"{path}: model file {MODEL_FILES[meta['kind']]} missing")
    try:
        if meta["kind"] == "cnn":
            keras = import_keras()

            if not zipfile.is_zipfile(model_path):
                raise BundleError(f"{model_path}: not a Keras model archive (truncated or corrupt)")
            # safe_mode (Keras' default, stated here on purpose): a Lambda layer's code is refused.
            model = keras.models.load_model(model_path, compile=False, safe_mode=True)
        else:
            model = load_svm(model_path)
        check_model(model, meta, model_path)
    except BundleError:
        raise
    except Exception as e:  # corrupt archives raise many kinds of errors
        raise BundleError(f"{model_path}: corrupt or incompatible model file ({type(e).__name__}: {e})") from None
    return Bundle(path, meta, model)


def export_bundle(run_dir, dest, weights="float32"):
    """Copy a bundle without training state (optimizer, checkpoints), e.g. to ship it.

    Parameters
    ----------
    run_dir : str
        A ``fer-train`` run folder.
    dest : str
        Folder to write ``bundle.json`` and the model file to.
    weights : {"float32", "float16"}, optional
        How a CNN's weights are stored (:func:`save_keras`).
    """
    check_weights(weights)
    bundle = load_bundle(run_dir)
    os.makedirs(dest, exist_ok=True)
    save_model(dest, bundle.model, bundle.kind, weights)  # loaded without compiling: no optimizer state
    atomic_write_json(os.path.join(dest, BUNDLE_JSON), bundle.meta)
