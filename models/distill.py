"""Distillation: training targets mixed with a teacher's answers.

A teacher is a model bundle, a shipped model's name or several of them (an
ensemble: their probabilities averaged). Its probabilities on the Training
faces, computed once per run (:func:`teacher_probabilities`, cached in the run
folder), are mixed into the targets (:func:`mix_targets`), so that one network
learns what an ensemble knows (Hinton et al. 2015, at temperature 1).
"""

import os

import numpy as np

from ..features.io import is_distribution
from ..features.util import atomic_path

from .bundle import BundleError, load_bundle, resolve_model
from .evaluate import predict_split

#: The teacher's probabilities on the run's Training faces, in its run folder.
TEACHER_FILE = "teacher_probabilities.npy"


def teacher_probabilities(teachers, data_dir, classes, n, limit=0, cache=None, log=print):
    """The teachers' mean probabilities on a converted Training split.

    Parameters
    ----------
    teachers : sequence of str
        Bundle folders or shipped models' names (:func:`models.bundle.resolve_model`).
    data_dir : str
        Output of ``fer-convert``.
    classes : sequence of str
        The data's classes: every teacher must name the same, in the same order.
    n : int
        The Training rows used (with ``limit``).
    limit : int, optional
        The first ``limit`` Training rows only (0: all).
    cache : str, optional
        A ``.npy`` file: read where it holds ``(n, len(classes))`` probabilities
        (a resumed run), else written once computed.
    log : callable, optional

    Returns
    -------
    (n, K) float32 ndarray
        Rows of probabilities that sum to 1.

    Raises
    ------
    BundleError
        A teacher that cannot be loaded, or whose classes differ from the data's.
    """
    if cache and os.path.isfile(cache):
        kept = _read_cache(cache, n, len(classes))
        if kept is not None:
            return kept
    probabilities = []
    for teacher in teachers:
        bundle = load_bundle(resolve_model(teacher))
        if list(bundle.classes) != list(classes):
            raise BundleError(f"teacher {teacher}: its classes ({', '.join(bundle.classes)}) differ from the "
                              f"data's ({', '.join(classes)})")
        log(f"teacher {teacher}: probabilities on {n} Training faces")
        p, _ = predict_split(bundle, data_dir, "Training", limit=limit)
        probabilities.append(np.asarray(p, np.float64))
    mean = np.mean(probabilities, axis=0)
    mean = (mean / mean.sum(axis=1, keepdims=True)).astype(np.float32)
    if mean.shape != (n, len(classes)):
        raise BundleError(f"teachers gave {mean.shape[0]} rows for {n} Training faces")
    if cache:
        with atomic_path(cache) as tmp:
            np.save(tmp, mean, allow_pickle=False)
    return mean


def _read_cache(path, n, k):
    """The cached probabilities, or None where the file does not hold ``n`` valid rows of ``k``."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return array if array.dtype == np.float32 and is_distribution(array, n, k) else None


def mix_targets(targets, teacher, weight):
    """Training targets mixed with a teacher's probabilities.

    Parameters
    ----------
    targets : (N, K) array_like
        One-hot labels or soft labels.
    teacher : (N, K) array_like
    weight : float
        The teacher's share, 0 to 1.

    Returns
    -------
    (N, K) float32 ndarray
    """
    return ((1.0 - weight) * np.asarray(targets, np.float32) + weight * np.asarray(teacher, np.float32)).astype(
        np.float32)
