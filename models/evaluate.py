"""Evaluation of bundles (and their ensembles) on a converted split, and of
the whole photo pipeline on labelled image folders."""

import csv
import os
import time

import numpy as np

from ..features.io import DataError, load_arrays, load_manifest, manifest_spec
from ..features.util import atomic_write

from .bundle import BundleError, is_shipped, load_bundle, mean_over_views
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
        ``accuracy``, ``macro_f1`` (the mean F1 of the classes that are
        labels or answers, as scikit-learn's ``f1_score(average="macro")``:
        a class that a photo folder lacks and no face is called counts for
        nothing), ``per_class`` (name to precision, recall, f1, support),
        ``confusion`` (K x K list, rows true), ``n``.
    """
    k = len(classes)
    predicted = np.argmax(probabilities, axis=1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    tp = np.diag(confusion).astype(np.float64)
    precision = tp / np.maximum(confusion.sum(axis=0), 1)
    recall = tp / np.maximum(confusion.sum(axis=1), 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    return {
        "accuracy": float((predicted == labels).mean()) if len(labels) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
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


def write_predictions(out_dir, header, rows):
    """``predictions.csv``: one row per face or image, so that every answer can be looked at.

    Parameters
    ----------
    out_dir : str
    header : sequence of str
    rows : iterable of sequence
        A row shorter than ``header`` ends in empty cells.
    """
    os.makedirs(out_dir, exist_ok=True)
    with atomic_write(os.path.join(out_dir, "predictions.csv"), newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(list(row) + [""] * (len(header) - len(row)) for row in rows)


def probability_columns(probabilities):
    """Rows of probabilities as text with four decimals (the columns of :func:`write_predictions`)."""
    return [[f"{p:.4f}" for p in row] for row in np.asarray(probabilities)]


def image_answer(face, classes):
    """The columns of an image's largest face in ``predictions.csv`` (:func:`evaluate_images`)."""
    probabilities = [face["probabilities"][c] for c in classes]
    return ([face["label"], f"{face['confidence']:.4f}", *(int(round(v)) for v in face["box"])]
            + probability_columns([probabilities])[0])


def class_map(model_classes, data_classes):
    """Each data class's column in the model's classes, matched by name (case-insensitive), or -1.

    Parameters
    ----------
    model_classes, data_classes : sequence of str

    Returns
    -------
    (len(data_classes),) int64 ndarray
    """
    lowered = [c.lower() for c in model_classes]
    return np.array([lowered.index(c.lower()) if c.lower() in lowered else -1 for c in data_classes], np.int64)


def check_compatible(bundle, manifest, data_dir, match_classes=False):
    """Raise a one-line error when a bundle cannot be evaluated on the data.

    With ``match_classes``, the class lists may differ where they share a
    class by name (:func:`class_map`)."""
    if list(bundle.classes) != list(manifest["classes"]):
        shared = (class_map(bundle.classes, manifest["classes"]) >= 0).any()
        if not match_classes or not shared:
            raise BundleError(
                f"{bundle.path}: trained on classes {', '.join(bundle.classes)}, but {data_dir} has "
                f"{', '.join(manifest['classes'])}"
                + ("" if match_classes else " (--match-classes evaluates it on the faces of the classes it names)")
            )
    data_spec = manifest_spec(manifest, bundle.feature_set, data_dir)
    differences = bundle.spec.differences(data_spec, crop=False)  # the data hold faces already cropped
    if differences:
        raise BundleError(
            f"{bundle.path}: its feature specification differs from the one {data_dir} was converted with "
            f"(model vs data: {'; '.join(differences)}); model: {bundle.spec.describe()}; "
            f"data: {data_spec.describe()}"
        )


def predict_split(bundle, data_dir, split, tta=False, limit=0, tta_shift=0, match_classes=False, rows=False):
    """Probabilities of a bundle on a converted split, and the labels.

    Parameters
    ----------
    bundle : models.bundle.Bundle
    data_dir : str
    split : str
    tta : bool, optional
        Average with the probabilities of the mirror images, and of the
        shifted views with ``tta_shift`` (:meth:`features.spec.FeatureSpec.tta_inputs`).
    limit : int, optional
        The split's first ``limit`` rows only (0: all).
    tta_shift : int, optional
        With ``tta``: ten views, shifted by this many pixels (0: flip only).
    match_classes : bool, optional
        Where the model's classes differ from the data's: keep the faces of the
        classes the model names, their labels turned into the model's class
        indices (an answer of a class the data lack counts wrong).
    rows : bool, optional
        Also return each face's row in the split.

    Returns
    -------
    probabilities : (N, K) float32 ndarray
        K: the model's classes.
    labels : (N,) int64 ndarray
        Indices into the model's classes.
    rows : (N,) int64 ndarray
        With ``rows``: each face's row in the split (counted from 0).
    """
    manifest = load_manifest(data_dir)
    check_compatible(bundle, manifest, data_dir, match_classes)
    try:
        arrays = load_arrays(data_dir, split, bundle.spec.arrays, limit)
    except DataError as e:
        raise DataError(f"{e} (model {bundle.path} uses feature set {bundle.feature_set!r})") from None
    arrays["rows"] = np.arange(len(arrays["labels"]), dtype=np.int64)
    if list(bundle.classes) != list(manifest["classes"]):
        mapped = class_map(bundle.classes, manifest["classes"])[arrays["labels"]]
        arrays = {name: array[mapped >= 0] for name, array in arrays.items()}
        arrays["labels"] = mapped[mapped >= 0]
    images = arrays["images"]
    probabilities = bundle.predict_proba(images, bundle.spec.stack(arrays))
    if tta:
        views = bundle.spec.tta_inputs(images, arrays.get("landmarks"), tta_shift)
        probabilities = mean_over_views(bundle.predict_proba, probabilities, views)
    if rows:
        return probabilities, arrays["labels"], arrays["rows"]
    return probabilities, arrays["labels"]


def evaluate(model_paths, data_dir, split, out_dir=None, tta=False, limit=0, tta_shift=0, match_classes=False):
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
        the first bundle's folder for an ensemble, in ``eval-<split>``):
        ``classification_report.csv``, ``confusion_matrix.png`` and
        ``predictions.csv`` (each face's row in the split, label, answer,
        confidence and probabilities; the ensemble's for several models).
    tta : bool, optional
        Flip test-time augmentation: average each model's probabilities on
        the faces and on their mirror images.
    limit : int, optional
        The split's first ``limit`` rows only (0: all).
    tta_shift : int, optional
        With ``tta``: ten views, the faces also shifted diagonally by this many
        pixels (:func:`predict_split`; 0: flip only).
    match_classes : bool, optional
        Models whose classes differ from the data's are evaluated on the faces
        of the classes they name (:func:`predict_split`); the members of an
        ensemble must still share their classes.

    Returns
    -------
    dict
        The metrics of the evaluated model (the ensemble when several), over
        the models' classes, with ``split``, ``models``, ``left_out`` (faces of
        classes the models lack, with ``match_classes``) and, for an ensemble,
        ``members``: one metrics dict per bundle.
    """
    manifest = load_manifest(data_dir)
    bundles = [load_bundle(p) for p in model_paths]
    classes = list(bundles[0].classes)
    for bundle in bundles[1:]:
        if list(bundle.classes) != classes:
            raise BundleError(f"{bundle.path}: an ensemble's members must share their classes "
                              f"({', '.join(bundle.classes)} against {', '.join(classes)})")
    probs, members = [], []
    labels = rows = None
    for bundle in bundles:
        p, labels, rows = predict_split(bundle, data_dir, split, tta, limit, tta_shift, match_classes, rows=True)
        probs.append(p)
        members.append({"model": bundle.path, **metrics(p, labels, classes)})
    mean = np.mean(probs, axis=0)
    result = metrics(mean, labels, classes)
    total = manifest["counts"][split]["total"]
    result.update({"split": split, "models": list(model_paths), "tta": bool(tta),
                   "tta_shift": int(tta_shift) if tta else 0,
                   "left_out": (min(limit, total) if limit else total) - len(labels)})
    if len(bundles) > 1:
        result["members"] = members
    first = bundles[0].path
    folder = f"eval-{split}" + ("-ensemble" if len(bundles) > 1 else "") + ("-tta" if tta else "") + (
        f"{tta_shift}" if tta and tta_shift else "")
    # A shipped model's folder is inside the installed package: its reports go to the working folder.
    out_dir = out_dir or (f"eval-{os.path.basename(first)}-{folder[5:]}" if is_shipped(first)
                          else os.path.join(first, folder))
    name = "ensemble of " + ", ".join(os.path.basename(os.path.normpath(p)) for p in model_paths) if len(bundles) > 1 else os.path.basename(os.path.normpath(model_paths[0]))
    views = (" (ten-view TTA)" if tta_shift else " (flip TTA)") if tta else ""
    write_reports(out_dir, result, f"{name} on {split}{views}: accuracy {result['accuracy']:.3f}")
    write_predictions(out_dir, ["row", "label", "predicted", "confidence"] + classes,
                      ([int(r), classes[t], classes[a], f"{m[a]:.4f}", *cols] for r, t, a, m, cols in
                       zip(rows, labels, mean.argmax(1), mean, probability_columns(mean))))
    result["out_dir"] = out_dir
    return result


def evaluate_images(model_path, folder, out_dir=None, tta=False, detector=None, upsample=None, whole_image=False,
                    progress=True, crop_rule=None, proposer=None, tta_shift=0, reframe=None, group_look=None,
                    last_look=None, tile=None, turns=None):
    """Evaluate the whole photo pipeline (detection, crop, features, model)
    on a labelled folder tree ``folder/<class>/<image>``.

    Each image's answer is its largest face; an image without a face found
    counts as wrong in ``accuracy_all``. A ``none`` folder holds images without
    any face: a face found there is a false one.

    Parameters
    ----------
    model_path : str, list of str or None
        A bundle folder (None: the shipped model), or several for an ensemble
        (:class:`models.recognizer.Recognizer`).
    folder : str
    out_dir : str, optional
        Where the reports go (default: ``<model>/eval-images-<folder name>``):
        ``classification_report.csv``, ``confusion_matrix.png`` and
        ``predictions.csv`` (each image, relative to ``folder``: its label,
        ``faces`` found, then for its largest face the answer, confidence,
        box and probabilities; an image that cannot be read has ``faces``
        ``unreadable``).
    tta : bool, optional
    detector : str, optional
        A face detector of :data:`features.faces.DETECTORS` (default: the photo detector).
    upsample : int, optional
    whole_image : bool, optional
        Every image is a face crop (nothing is detected).
    crop_rule : bool, optional
        Small images framed like a FER-2013 face are taken whole
        (:class:`models.recognizer.Recognizer`'s ``crop_rule``; default
        ``VIDEO.crop_rule``).
    proposer : {"none", "blazeface"}, optional
        A first look by a face proposer (:class:`models.recognizer.Recognizer`'s
        ``proposer``; default ``VIDEO.photo_proposer``).
    progress : bool, optional
        A progress bar on a terminal.
    tta_shift : int, optional
        With ``tta``: ten views (:class:`models.recognizer.Recognizer`'s ``tta_shift``).
    reframe : int, optional
        Faces cut again from their landmarks this many times
        (:class:`models.recognizer.Recognizer`'s ``reframe``; default ``VIDEO.reframe``).
    group_look : bool, optional
        MTCNN's second look for a group photo's smaller faces
        (:class:`models.recognizer.Recognizer`'s ``group_look``; default ``VIDEO.group_look``).
    last_look : {"slow", "yunet"}, optional
        The photo search's last look (:class:`models.recognizer.Recognizer`'s
        ``last_look``; default ``VIDEO.photo_last_look``).
    tile : bool, optional
        A face in a square tile that frames it is cut as that tile
        (:class:`models.recognizer.Recognizer`'s ``tile``; default ``VIDEO.tile``).
    turns : sequence of float, optional
        The turned looks' angles where no other look finds a face
        (:class:`models.recognizer.Recognizer`'s ``turns``; default ``VIDEO.photo_turns``).

    Returns
    -------
    dict
        :func:`metrics` of the faces found (``accuracy``, ``macro_f1``,
        ``per_class``, ``confusion``, ``n``), and ``images`` (labelled images),
        ``found`` (their share with a face), ``accuracy_all`` (misses counted
        wrong), ``predicted`` (share of each class among the answers),
        ``no_face_images`` and ``false_faces`` (share of them with a face),
        ``unreadable`` (count), ``missed`` (the first 100 images without a
        face), ``median_ms`` (per image, end to end), ``out_dir``.

    Raises
    ------
    FolderError
        No such folder, unknown class folders, or no image.
    """
    from tqdm import tqdm

    from ..features.faces import ImageError
    from ..features.folders import labelled_images
    from ..parameters import VIDEO
    from .recognizer import Recognizer

    recognizer = Recognizer(model_path, detector=detector or VIDEO.photo_detector,
                            upsample=VIDEO.upsample if upsample is None else upsample, tta=tta, tta_shift=tta_shift,
                            whole_image=whole_image, crop_rule=VIDEO.crop_rule if crop_rule is None else crop_rule,
                            proposer=proposer or VIDEO.photo_proposer,
                            reframe=VIDEO.reframe if reframe is None else reframe,
                            group_look=VIDEO.group_look if group_look is None else group_look,
                            last_look=last_look or VIDEO.photo_last_look, tile=VIDEO.tile if tile is None else tile,
                            turns=VIDEO.photo_turns if turns is None else turns)
    classes = recognizer.classes
    items = labelled_images(folder, classes)
    probabilities, labels, missed, times, rows = [], [], [], [], []
    unreadable = no_face_images = false_faces = 0
    for path, label in tqdm(items, unit="image", desc="evaluate", disable=None if progress else True):
        row = [os.path.relpath(path, folder), "none" if label is None else classes[label]]
        started = time.perf_counter()
        try:
            faces = recognizer.predict(path)
        except ImageError:
            unreadable += 1
            rows.append(row + ["unreadable"])
            continue
        times.append(time.perf_counter() - started)
        rows.append(row + [len(faces)] + (image_answer(faces[0], classes) if faces else []))
        if label is None:
            no_face_images += 1
            false_faces += bool(faces)
        elif faces:
            probabilities.append([faces[0]["probabilities"][c] for c in classes])
            labels.append(label)
        else:
            missed.append((path, label))
    n_labelled = len(labels) + len(missed)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1, len(classes))
    result = metrics(probabilities, np.asarray(labels, dtype=np.int64), classes)
    correct = int(np.sum(probabilities.argmax(axis=1) == np.asarray(labels))) if labels else 0
    answers = np.bincount(probabilities.argmax(axis=1), minlength=len(classes)) if labels else np.zeros(len(classes))
    result.update({
        "images": n_labelled,
        "found": len(labels) / n_labelled if n_labelled else None,
        "accuracy_all": correct / n_labelled if n_labelled else None,
        "predicted": {c: float(a / max(len(labels), 1)) for c, a in zip(classes, answers)},
        "no_face_images": no_face_images,
        "false_faces": false_faces / no_face_images if no_face_images else None,
        "unreadable": unreadable,
        "missed": [p for p, _ in missed[:100]],
        "median_ms": float(np.median(times) * 1000) if times else 0.0,
        "models": recognizer.model_paths,
        "folder": folder,
        "tta": bool(tta),
        "tta_shift": int(tta_shift) if tta else 0,
        "whole_image": bool(whole_image),
        "detector": recognizer.detector,
    })
    name = os.path.basename(os.path.normpath(folder))
    # The shipped model's folder is inside the installed package: its reports go to the working folder.
    first = recognizer.model_paths[0]
    ensemble = "-ensemble" if len(recognizer.model_paths) > 1 else ""
    folder_name = f"eval-images-{name}{ensemble}"
    out_dir = out_dir or (folder_name if is_shipped(first) else os.path.join(first, folder_name))
    title = ("ensemble of " if ensemble else "") + ", ".join(os.path.basename(os.path.normpath(p))
                                                            for p in recognizer.model_paths)
    if n_labelled:
        write_reports(out_dir, result, f"{title} on {name} "
                                       f"(photos, {result['found']:.0%} found): accuracy {result['accuracy']:.3f}")
    write_predictions(out_dir, ["image", "label", "faces", "predicted", "confidence", "x", "y", "width", "height"]
                      + list(classes), rows)
    result["out_dir"] = out_dir
    return result
