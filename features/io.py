"""Reading converted arrays back."""

import json
import os

import numpy as np

from ..parameters import FEATURE_SETS, FEATURES_BEFORE_SPEC

from .conversion import MANIFEST
from .spec import FeatureSpec, SpecError


class DataError(Exception):
    """Converted data that is missing or does not fit the request (one line)."""


def load_manifest(data_dir):
    """The manifest of a converted folder.

    Parameters
    ----------
    data_dir : str

    Returns
    -------
    dict

    Raises
    ------
    DataError
        No converted data there.
    """
    path = os.path.join(data_dir, MANIFEST)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataError(f"{data_dir}: no converted data ({MANIFEST} missing): run fer-convert first") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable manifest ({e})") from None


def manifest_spec(manifest, feature_set="none", where="data"):
    """The feature specification a conversion used.

    Conversions from before specifications were recorded kept their HOG and
    landmark settings among ``parameters``; their crop geometry is
    ``parameters.FEATURES_BEFORE_SPEC``'s.

    Parameters
    ----------
    manifest : dict
    feature_set : str, optional
        The feature set of the returned specification.
    where : str, optional
        Named in the error.

    Returns
    -------
    features.spec.FeatureSpec

    Raises
    ------
    DataError
        A malformed specification, or feature dimensions that contradict it.
    """
    data = manifest.get("feature_spec")
    try:
        if data is None:
            old = manifest.get("parameters") or {}
            base = FeatureSpec.from_parameters(FEATURES_BEFORE_SPEC).settings()
            data = {k: old.get(k, v) for k, v in base.items()}
        spec = FeatureSpec.from_json(data, feature_set=feature_set)
    except SpecError as e:
        raise DataError(f"{where}: {e}") from None
    dims = manifest.get("feature_dimensions", {})
    wrong = sorted(n for n, d in spec.dimensions().items() if n in dims and dims[n] != d)
    if wrong:
        raise DataError(f"{where}: the manifest's feature_dimensions ({', '.join(f'{n} {dims[n]}' for n in wrong)}) "
                        f"contradict its feature specification ({', '.join(f'{n} {spec.dimensions()[n]}' for n in wrong)})")
    return spec


def load_arrays(data_dir, split, names=(), limit=0):
    """Raw arrays of one split.

    Parameters
    ----------
    data_dir : str
        Output folder of ``fer-convert``.
    split : str
        ``Training``, ``PublicTest`` or ``PrivateTest``.
    names : sequence of str, optional
        Feature arrays to read besides ``images`` and ``labels``
        (``landmarks``, ``hog``, ``hog_windows``).
    limit : int, optional
        First ``limit`` rows only (0: all).

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    DataError
        Missing split, or a feature the conversion did not compute.
    """
    manifest = load_manifest(data_dir)
    folder = os.path.join(data_dir, split)
    if not os.path.isdir(folder) or split not in manifest.get("counts", {}):
        raise DataError(f"{data_dir}: no split {split!r} (have {', '.join(manifest.get('counts', {}))})")
    missing = [n for n in names if n not in manifest.get("features", [])]
    if missing:
        raise DataError(
            f"{data_dir}: needs {', '.join(missing)}, which this conversion did not compute "
            f"(it has {', '.join(manifest.get('features', [])) or 'no features'})"
        )
    out = {}
    for name in ("images", "labels", *names):
        try:
            array = np.load(os.path.join(folder, f"{name}.npy"), mmap_mode="r")
        except (OSError, ValueError) as e:
            raise DataError(f"{folder}/{name}.npy: unreadable ({e})") from None
        out[name] = np.asarray(array[:limit] if limit else array)
    return out


def load_split(data_dir, split, feature_set="none", limit=0):
    """Images, labels and the flattened features of one split.

    Parameters
    ----------
    data_dir : str
        Output folder of ``fer-convert``.
    split : str
        ``Training``, ``PublicTest`` or ``PrivateTest``.
    feature_set : str, optional
        A key of :data:`parameters.FEATURE_SETS`.
    limit : int, optional
        First ``limit`` rows only (0: all).

    Returns
    -------
    images : (N, S, S) uint8 ndarray
    features : (N, D) float32 ndarray
        The feature set's arrays flattened and concatenated (D = 0 for ``none``).
    labels : (N,) int64 ndarray

    Raises
    ------
    DataError
        Missing split, or a feature set the conversion did not compute.
    """
    if feature_set not in FEATURE_SETS:
        raise DataError(f"unknown feature set {feature_set!r} (choose from {', '.join(FEATURE_SETS)})")
    spec = manifest_spec(load_manifest(data_dir), feature_set, data_dir)
    arrays = load_arrays(data_dir, split, spec.arrays, limit)
    return arrays["images"], spec.stack(arrays), arrays["labels"]


def is_distribution(array, n, k):
    """Whether ``array`` holds ``n`` rows of ``k`` class probabilities: finite, not
    negative, each row summing to 1 (within 1e-3).

    Parameters
    ----------
    array : ndarray
    n, k : int

    Returns
    -------
    bool
    """
    return (array.shape == (n, k) and bool(np.isfinite(array).all()) and not (array < 0).any()
            and np.allclose(array.sum(axis=1), 1.0, atol=1e-3))


def load_targets(data_dir, split, labels, limit=0):
    """The soft labels (per-row class distributions) of a split, if the conversion wrote them.

    Parameters
    ----------
    data_dir : str
    split : str
    labels : (N,) ndarray
        The split's hard labels, read with the same ``limit``.
    limit : int, optional

    Returns
    -------
    (N, K) float32 ndarray or None
        None when the data hold hard labels only.

    Raises
    ------
    DataError
        A distribution file that is missing or does not fit the labels.
    """
    manifest = load_manifest(data_dir)
    if not manifest.get("soft_labels"):
        return None
    path = os.path.join(data_dir, split, "label_distribution.npy")
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable ({str(e)[:100]})") from None
    array = np.asarray(array[:limit] if limit else array, dtype=np.float32)
    k = len(manifest["classes"])
    if not is_distribution(array, len(labels), k):
        raise DataError(f"{path}: expected {len(labels)} rows of {k} class probabilities that sum to 1, "
                        f"got an array of shape {array.shape}")
    return array
