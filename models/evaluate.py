"""Evaluation of bundles (and their ensembles) on a converted split."""

import csv
import os

import numpy as np

from ..features.io import DataError, load_arrays, load_manifest, manifest_spec
from ..features.util import atomic_write

from .bundle import BundleError, load_bundle
from .plots import confusion_matrix_plot


def metrics(probabilities, labels, classes):
    """Accuracy, macro-F1, per-class scores and the confusion matrix.

    Parameters
    ----------
    probabilities : (N, K) ndarray
    labels : (N,) int ndarray
    classes : list of str

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``per_class`` (name to precision, recall,
        f1, support), ``confusion`` (K x K list, rows true), ``n``.
    """
    k = len(classes)
    predicted = np.argmax(probabilities, axis=1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    tp = np.diag(confusion).astype(np.float64)
    precision = tp / np.maximum(confusion.sum(axis=0), 1)
    recall = tp / np.maximum(confusion.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return {
        "accuracy": float((predicted == labels).mean()) if len(labels) else 0.0,
        "macro_f1": float(f1.mean()),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(classes, precision, recall, f1, confusion.sum(axis=1))
        },
        "confusion": confusion.tolist(),
        "n": int(len(labels)),
    }


def write_reports(out_dir, result, title=""):
    """``classification_report.csv`` and ``confusion_matrix.png`` of a result.

    Parameters
    ----------
    out_dir : str
    result : dict
        As returned by :func:`metrics`.
    title : str, optional
    """
    os.makedirs(out_dir, exist_ok=True)
    with atomic_write(os.path.join(out_dir, "classification_report.csv"), newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class", "precision", "recall", "f1", "support"])
        for name, row in result["per_class"].items():
            writer.writerow([name, f"{row['precision']:.4f}", f"{row['recall']:.4f}", f"{row['f1']:.4f}", row["support"]])
        writer.writerow(["accuracy", "", "", f"{result['accuracy']:.4f}", result["n"]])
        writer.writerow(["macro avg", "", "", f"{result['macro_f1']:.4f}", result["n"]])
    confusion_matrix_plot(result["confusion"], list(result["per_class"]), os.path.join(out_dir, "confusion_matrix.png"), title)


def check_compatible(bundle, manifest, data_dir):
    """Raise a one-line error when a bundle cannot be evaluated on the data."""
    if list(bundle.classes) != list(manifest["classes"]):
        raise BundleError(
            f"{bundle.path}: trained on classes {', '.join(bundle.classes)}, but {data_dir} has "
            f"{', '.join(manifest['classes'])}"
        )
    data_spec = manifest_spec(manifest, bundle.feature_set, data_dir)
    differences = bundle.spec.differences(data_spec)
    if differences:
        raise BundleError(
            f"{bundle.path}: its feature specification differs from the one {data_dir} was converted with "
            f"(model vs data: {'; '.join(differences)}); model: {bundle.spec.describe()}; "
            f"data: {data_spec.describe()}"
        )


def predict_split(bundle, data_dir, split, tta=False):
    """Probabilities of a bundle on a converted split, and the labels.

    Parameters
    ----------
    bundle : models.bundle.Bundle
    data_dir : str
    split : str
    tta : bool, optional
        Average with the probabilities of the mirror images
        (:meth:`features.spec.FeatureSpec.mirror_inputs`).

    Returns
    -------
    probabilities : (N, K) float32 ndarray
    labels : (N,) int64 ndarray
    """
    check_compatible(bundle, load_manifest(data_dir), data_dir)
    try:
        arrays = load_arrays(data_dir, split, bundle.spec.arrays)
    except DataError as e:
        raise DataError(f"{e} (model {bundle.path} uses feature set {bundle.feature_set!r})") from None
    images = arrays["images"]
    probabilities = bundle.predict_proba(images, bundle.spec.stack(arrays))
    if tta:
        mirrored = bundle.predict_proba(*bundle.spec.mirror_inputs(images, arrays.get("landmarks")))
        probabilities = (probabilities + mirrored) / 2
    return probabilities, arrays["labels"]


def evaluate(model_paths, data_dir, split, out_dir=None, tta=False):
    """Evaluate one or several bundles; several also as an ensemble.

    Parameters
    ----------
    model_paths : list of str
        Bundle folders.
    data_dir : str
        Output of ``fer-convert``.
    split : str
    out_dir : str, optional
        Where to write the reports (default: the single bundle's folder, or
        the first bundle's folder for an ensemble, in ``eval-<split>``).
    tta : bool, optional
        Flip test-time augmentation: average each model's probabilities on
        the faces and on their mirror images.

    Returns
    -------
    dict
        The metrics of the evaluated model (the ensemble when several), with
        ``split``, ``models`` and, for an ensemble, ``members``: one metrics
        dict per bundle.
    """
    manifest = load_manifest(data_dir)
    bundles = [load_bundle(p) for p in model_paths]
    probs, members = [], []
    labels = None
    for bundle in bundles:
        p, labels = predict_split(bundle, data_dir, split, tta)
        probs.append(p)
        members.append({"model": bundle.path, **metrics(p, labels, manifest["classes"])})
    result = metrics(np.mean(probs, axis=0), labels, manifest["classes"])
    result.update({"split": split, "models": list(model_paths), "tta": bool(tta)})
    if len(bundles) > 1:
        result["members"] = members
    out_dir = out_dir or os.path.join(model_paths[0], f"eval-{split}" + ("-ensemble" if len(bundles) > 1 else "")
                                      + ("-tta" if tta else ""))
    name = "ensemble of " + ", ".join(os.path.basename(os.path.normpath(p)) for p in model_paths) if len(bundles) > 1 else os.path.basename(os.path.normpath(model_paths[0]))
    write_reports(out_dir, result, f"{name} on {split}{' (flip TTA)' if tta else ''}: accuracy {result['accuracy']:.3f}")
    result["out_dir"] = out_dir
    return result
