"""Conversion of a labelled folder tree of images into the arrays ``fer-convert`` writes.

The tree is read by :func:`features.folders.scan_tree` (splits and classes
from folder names); worker processes decode each file (sizes checked from
the header first), find and crop its face with the photo pipeline, or take
the image whole, and compute the features by the feature specification, as
the CSV path does. Files that give no face (unreadable, not an image, no
face found, a duplicate of another) are counted and listed in the manifest,
never fatal. Output is written by :func:`features.conversion.write_output`:
a complete folder or nothing.
"""

import hashlib
import os
import time

import numpy as np

from ..parameters import DATASET, SPLITS, VERSION, VIDEO

from .conversion import NOT_FEATURES, ConversionError, _start_pool, run_chunks, write_output
from .faces import (HOG_DETECTORS, ImageError, check_last_look, check_turns, detect_faces, face_crop_box, look_turned,
                    to_gray)
from .folders import FolderError, class_set, scan_tree
from .images import ImageTooLarge, decode_image
from .spec import FeatureSpec
from .util import clean_stale

#: How faces are taken from the images: ``detect`` (the largest face the
#: photo detector finds), ``whole`` (the image is the face) or ``auto``
#: (whole for images at most ``DATASET.whole_max_side`` a side and for those the
#: face-crop rule takes whole, as prediction does, else detect).
FACE_MODES = ("auto", "detect", "whole")
#: Skipped files listed in the manifest (all are counted).
LISTED_SKIPS = 1000


def face_of_image(data, spec, faces="auto", detector=VIDEO.photo_detector, max_pixels=VIDEO.max_pixels, propose=None,
                  reframe=VIDEO.reframe, last_look=VIDEO.photo_last_look, more=None, turns=VIDEO.photo_turns):
    """The face crop of one encoded image file, or why there is none.

    Parameters
    ----------
    data : bytes
        The file's contents.
    spec : features.spec.FeatureSpec
        Crop geometry and image size.
    faces : {"auto", "detect", "whole"}
        See :data:`FACE_MODES`.
    detector : str
        Face detector of ``detect`` (:data:`features.faces.DETECTORS`).
    max_pixels : int
        Larger images are refused from their header.
    propose : callable, optional
        Extra candidate faces for ``dlib+cnn`` (:func:`features.faces.detect_faces`'s
        ``propose``; ``fer-convert`` passes BlazeFace's, as :class:`Recognizer` does).
    reframe : int, optional
        A face found is cut again this many times from its landmarks, and from
        the tile that frames it if any, as :class:`Recognizer` does
        (:meth:`features.spec.FeatureSpec.crop_framed`).
    last_look : {"slow", "yunet"}, optional
        ``dlib+cnn``'s last look (:func:`features.faces.detect_faces`).
    more : callable, optional
        ``more(gray, found)``: the group look's faces, for a photo larger than
        ``VIDEO.small_side`` (:func:`features.faces.detect_faces`' ``more``;
        ``fer-convert`` passes MTCNN's, as :class:`Recognizer` does).
    turns : sequence of float, optional
        ``dlib+cnn``'s turned looks: where nothing finds a face in a photo larger
        than ``VIDEO.small_side``, the photo turned by each of these angles is
        looked at and the face is cut upright from the turned photo, as
        :class:`Recognizer` does (:func:`features.faces.look_turned`).

    Returns
    -------
    crop : (S, S) uint8 ndarray or None
    reason : str or None
        Short reason when there is no crop: ``not an image``, ``too large``,
        ``no face found``.
    """
    try:
        decoded = decode_image(data, max_pixels=max_pixels, reduce_to=VIDEO.detect_max_side, grey=True)
    except ImageTooLarge:
        return None, "too large"
    except ImageError:
        return None, "not an image"
    gray = to_gray(decoded.array)
    if faces == "whole" or (faces == "auto" and max(gray.shape) <= DATASET.whole_max_side):
        return spec.crop_whole(gray)[0], None
    if faces == "auto" and VIDEO.crop_rule and detector in HOG_DETECTORS and face_crop_box(gray):
        return spec.crop_whole(gray)[0], None  # framed like a FER-2013 face: as prediction takes it
    boxes = detect_faces(gray, detector, VIDEO.detect_max_side, VIDEO.upsample, propose=propose, more=more,
                         last_look=last_look)
    if not boxes and turns and detector == "dlib+cnn":
        turned, _, boxes = look_turned(gray, turns)
        gray = gray if turned is None else turned
    if not boxes:
        return None, "no face found"
    return spec.crop_framed(gray, boxes[:1], reframe)[1][0], None


def _convert_files(task):
    """Read, hash, crop and featurise one chunk of files (a worker's job).

    Parameters
    ----------
    task : tuple
        ``(paths, faces, detector, landmarks, hog, spec, propose, last_look, more, turns)``.

    Returns
    -------
    dict
        ``digests`` (sha256 of every file, None if unreadable), ``keep``
        (indices of the files that gave a face), ``images``, the feature
        arrays, and ``skipped``: list of ``(index, reason)``.
    """
    paths, faces, detector, landmarks, hog, spec, propose, last_look, more, turns = task
    digests, crops, keep, skipped = [], [], [], []
    for i, path in enumerate(paths):
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size > DATASET.max_image_bytes:
                    digests.append(None)
                    skipped.append((i, f"too large (over {DATASET.max_image_bytes / 1e6:g} MB)"))
                    continue
                data = f.read()
        except OSError as e:
            digests.append(None)
            skipped.append((i, f"unreadable ({(e.strerror or str(e)).lower()})"))
            continue
        digests.append(hashlib.sha256(data).hexdigest())
        if not data:
            skipped.append((i, "empty file"))
            continue
        crop, reason = face_of_image(data, spec, faces, detector, propose=propose, last_look=last_look, more=more,
                                     turns=turns)
        if crop is None:
            skipped.append((i, reason))
        else:
            keep.append(i)
            crops.append(crop)
    size = spec.image_size
    images = spec.align_faces(np.stack(crops) if crops else np.zeros((0, size, size), np.uint8))[0]
    out = {"digests": digests, "keep": keep, "images": images, "skipped": skipped}
    if len(images):
        out.update(spec.extract(images, landmarks=landmarks, hog=hog))
    return out


def validation_split(labels, n_classes, fraction, seed):
    """A stratified, seeded choice of rows for validation.

    Parameters
    ----------
    labels : (N,) int ndarray
    n_classes : int
    fraction : float
        Share of each class chosen (rounded; a class of two or more rows
        gives at least one, and keeps at least one for training).
    seed : int

    Returns
    -------
    (N,) bool ndarray
        True for the rows chosen.
    """
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(labels), bool)
    for c in range(n_classes):
        rows = np.flatnonzero(labels == c)
        if len(rows) < 2 or fraction <= 0:
            continue
        n = min(max(1, round(fraction * len(rows))), len(rows) - 1)
        chosen[rng.permutation(rows)[:n]] = True
    return chosen


def _skip_record(skipped):
    """The manifest's account of skipped files: counts by reason, and the first ones listed."""
    reasons = {}
    for _, reason in skipped:
        key = reason.split(" (")[0]
        reasons[key] = reasons.get(key, 0) + 1
    return {"count": len(skipped), "reasons": reasons,
            "files": [{"path": p, "reason": r} for p, r in skipped[:LISTED_SKIPS]]}


def convert_images(
    root,
    out_dir,
    faces="auto",
    landmarks=True,
    hog=True,
    workers=DATASET.workers,
    force=False,
    progress=True,
    spec=None,
    validation_fraction=DATASET.validation_fraction,
    seed=DATASET.validation_seed,
    detector=VIDEO.photo_detector,
    chunk_images=DATASET.chunk_images,
    propose=None,
    last_look=VIDEO.photo_last_look,
    more=None,
    turns=VIDEO.photo_turns,
):
    """Convert a labelled folder tree of images into per-split numpy arrays.

    ``root/<class>/*`` or ``root/<split>/<class>/*`` (see
    :func:`features.folders.scan_tree` and :func:`features.folders.class_set`)
    becomes what :func:`features.conversion.convert` writes: the same arrays,
    manifest and feature specification, so training, evaluation, the SVM and
    search take it unchanged. Each split's ``sources.txt`` names the file of
    every row.

    Parameters
    ----------
    root : str
    out_dir : str
        Output folder; must not exist unless ``force``.
    faces : {"auto", "detect", "whole"}, optional
        How faces are taken from the images (:data:`FACE_MODES`).
    landmarks, hog : bool, optional
        Which features to compute.
    workers : int, optional
        Worker processes (0: one per core).
    force : bool, optional
        Replace an existing output folder (only once the new one is complete).
    progress : bool, optional
        Show a progress bar on a terminal.
    spec : features.spec.FeatureSpec, optional
        Image size, crop geometry, landmark and HOG settings (default:
        ``parameters.FEATURES``); recorded in the manifest.
    validation_fraction : float, optional
        Without a validation folder, this share of each class of the
        training folder becomes PublicTest (stratified, seeded by ``seed``).
    seed : int, optional
    detector : str, optional
        Face detector for ``detect`` (the photo pipeline's by default).
    chunk_images : int, optional
        Files handed to a worker at a time.
    propose : callable, optional
        Extra candidate faces for ``dlib+cnn`` in photos (:func:`face_of_image`):
        ``fer-convert --images`` passes BlazeFace's
        (:func:`models.recognizer.proposed_candidates`), so that a folder is searched
        exactly as :class:`Recognizer` searches a photo.
    last_look : {"slow", "yunet"}, optional
        ``dlib+cnn``'s last look in photos (:func:`features.faces.detect_faces`;
        ``fer-convert --last-look``).
    more : callable, optional
        The group look's faces in photos (:func:`face_of_image`): ``fer-convert
        --images`` passes MTCNN's (:func:`models.mtcnn.more_faces`), as
        :class:`Recognizer` looks.
    turns : sequence of float, optional
        The turned looks' angles in photos (:func:`face_of_image`; ``fer-convert --turns``).

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    ConversionError
        A tree that cannot be read as labelled images, or one with no face in it (one line).
    """
    started = time.perf_counter()
    spec = spec or FeatureSpec()
    if faces not in FACE_MODES:
        raise ConversionError(f"--faces must be one of {', '.join(FACE_MODES)}, got {faces!r}")
    try:
        check_last_look(last_look)
        turns = check_turns(turns)
    except ValueError as e:
        raise ConversionError(str(e)) from None
    if not 0 <= validation_fraction < 1:
        raise ConversionError(f"--validation-fraction must be in [0, 1), got {validation_fraction}")
    root = os.path.abspath(root)
    out_dir = os.path.abspath(out_dir)
    if out_dir == root or out_dir.startswith(root + os.sep):
        raise ConversionError(f"{out_dir}: the output folder cannot be inside the image folder {root}")
    try:
        files, skipped = scan_tree(root)
        classes, class_ids, index = class_set(name for items in files.values() for _, name in items)
    except FolderError as e:
        raise ConversionError(str(e)) from None
    clean_stale(out_dir)
    if os.path.exists(out_dir) and not force:
        raise ConversionError(f"{out_dir} already exists: use --force to replace it")
    items = [(path, split, index[name]) for split in SPLITS for path, name in files.get(split, [])]
    paths = [p for p, _, _ in items]
    # Clean workers: a photo's search may run dlib's CNN, which hangs in a child forked after this process ran it.
    pool = _start_pool(workers or os.cpu_count() or 1, landmarks, "forkserver")
    try:
        tasks = [(paths[s : s + chunk_images], faces, detector, landmarks, hog, spec, propose, last_look, more, turns)
                 for s in range(0, len(paths), chunk_images)]
        keep, parts, digests, failed = [], {}, [], []
        results = run_chunks(pool, tasks, progress, _convert_files, "images")
        for start, result in zip(range(0, len(paths), chunk_images), results):
            digests.extend(result["digests"])
            keep.extend(start + i for i in result["keep"])
            failed.extend((start + i, reason) for i, reason in result["skipped"])
            for name, array in result.items():
                if name not in ("digests", "keep", "skipped"):
                    parts.setdefault(name, []).append(array)
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    first = {}
    for i, digest in enumerate(digests):  # a file seen before (in split, then path order) is a duplicate
        if digest is not None and first.setdefault(digest, i) != i:
            failed.append((i, f"duplicate (of {os.path.relpath(paths[first[digest]], root)})"))
    duplicate = {i for i, reason in failed if reason.startswith("duplicate")}
    rows = np.asarray([k not in duplicate for k in keep], bool)
    keep = [k for k in keep if k not in duplicate]
    if not keep:
        raise ConversionError(f"{root}: no face in any of its {len(paths)} files "
                              f"({_skip_record(sorted(failed))['reasons']})")
    arrays = {name: np.concatenate(chunks)[rows] for name, chunks in parts.items()}
    arrays["labels"] = np.asarray([items[k][2] for k in keep], dtype=np.int64)
    arrays["sources.txt"] = [os.path.relpath(paths[k], root) for k in keep]
    splits = np.asarray([items[k][1] for k in keep], dtype=object)
    carved = "PublicTest" not in files
    if carved:
        chosen = validation_split(np.where(splits == "Training", arrays["labels"], -1), len(classes),
                                  validation_fraction, seed)
        splits[chosen] = "PublicTest"
    skipped = [(os.path.relpath(p, root), r) for p, r in skipped] + [(os.path.relpath(paths[i], root), r)
                                                                      for i, r in sorted(failed)]
    source = hashlib.sha256("".join(f"{d} {os.path.relpath(p, root)}\n" for p, d in zip(paths, digests)
                                    if d is not None).encode()).hexdigest()
    manifest = {
        "toolkit_version": VERSION,
        "source": root,
        "source_sha256": source,
        "classes": classes,
        "class_ids": class_ids,
        "labels": {"source": "folders", "folders": {c: sorted(n for n, i in index.items() if i == k)
                                                    for k, c in enumerate(classes)}},
        "soft_labels": False,
        "features": sorted(n for n in arrays if n not in NOT_FEATURES),
        "feature_spec": spec.settings(),
        "feature_dimensions": {n: d for n, d in spec.dimensions().items() if n in arrays},
        "counts": {},
        "bad_rows": {"count": 0, "first": []},
        "skipped": _skip_record(skipped),
        "parameters": {
            "images": root,
            "faces": faces,
            "detector": detector,
            "last_look": last_look,
            "turns": list(turns),
            "whole_max_side": DATASET.whole_max_side,
            "split_folders": {s: s in files for s in SPLITS},
            "validation_fraction": validation_fraction if carved else None,
            "validation_seed": seed if carved else None,
            "landmarks": landmarks,
            "hog": hog,
        },
    }
    return write_output(out_dir, arrays, splits.astype(str), manifest, started)
