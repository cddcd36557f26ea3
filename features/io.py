"""Reading converted arrays back."""

import json
import os

import numpy as np

from parameters import FEATURE_SETS

from .convert import MANIFEST


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
    images : (N, 48, 48) uint8 ndarray
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
    manifest = load_manifest(data_dir)
    folder = os.path.join(data_dir, split)
    if not os.path.isdir(folder) or split not in manifest.get("counts", {}):
        raise DataError(f"{data_dir}: no split {split!r} (have {', '.join(manifest.get('counts', {}))})")
    missing = [n for n in FEATURE_SETS[feature_set] if n not in manifest.get("features", [])]
    if missing:
        raise DataError(
            f"{data_dir}: feature set {feature_set!r} needs {', '.join(missing)}, which this conversion "
            f"did not compute (it has {', '.join(manifest.get('features', [])) or 'no features'})"
        )

    def read(name):
        try:
            array = np.load(os.path.join(folder, f"{name}.npy"), mmap_mode="r")
        except (OSError, ValueError) as e:
            raise DataError(f"{folder}/{name}.npy: unreadable ({e})") from None
        return np.asarray(array[:limit] if limit else array)

    images, labels = read("images"), read("labels")
    parts = [read(n).reshape(len(images), -1) for n in FEATURE_SETS[feature_set]]
    features = np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((len(images), 0), np.float32)
    return images, features, labels
