"""Conversion of ``fer2013.csv`` into numpy arrays of pixels and features.

The work is split in two: the main process reads the file, checks each row's
label and split and picks the rows to keep; worker processes (started first,
so that they stay small) parse the pixels of chunks of rows and compute their
features with the feature specification (:meth:`features.spec.FeatureSpec.extract`),
which the manifest records. Output goes to a temporary folder that is renamed
into place once the manifest, written last, is complete.
"""

import gzip
import hashlib
import json
import multiprocessing
import os
import shutil
import time
import warnings
import zlib

import numpy as np

from ..parameters import DATASET, EMOTIONS, FERPLUS_CLASSES, SPLITS, VERSION

from .spec import FeatureSpec
from .util import clean_stale, replace_folder, short

REQUIRED_COLUMNS = ("emotion", "pixels", "Usage")
MANIFEST = "manifest.json"
#: Arrays of a conversion that are not features.
NOT_FEATURES = ("images", "labels", "label_distribution", "sources.txt")
#: Columns of Microsoft's FERPlus vote file (``fer2013new.csv``).
FERPLUS_COLUMNS = ("Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                   "contempt", "unknown", "NF")
#: The class id (in :data:`parameters.FERPLUS_CLASSES`) of each FERPlus emotion column.
FERPLUS_CLASS_IDS = (6, 3, 5, 4, 0, 1, 2, 7)
#: How FERPlus votes become labels: the majority class, or the vote distribution (soft labels).
FERPLUS_LABELS = ("majority", "distribution")
#: The largest vote count a FERPlus row may hold (ten annotators voted on each face).
MAX_VOTES = 1000
#: How :func:`read_ferplus` labels faces, as the manifest records it.
FERPLUS_PROTOCOL = ("Barsoum et al. 2016: votes of 1 dropped; majority label where the top class holds more than "
                    "half of the remaining votes; unknown and not-a-face dropped")


class ConversionError(Exception):
    """A problem with the input or output that stops conversion (one line)."""


# --------------------------------------------------------------------------
# Reading and checking rows


def read_source(path):
    """Bytes of a ``.csv`` or gzip-compressed ``.csv.gz`` file.

    Parameters
    ----------
    path : str

    Returns
    -------
    sha256 : str
        Hex digest of the file as stored.
    text : bytes
        The decompressed CSV.

    Raises
    ------
    ConversionError
        Missing, unreadable, corrupt or empty file.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConversionError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConversionError(f"{path}: is a folder, not a CSV file") from None
    except OSError as e:
        raise ConversionError(f"{path}: cannot read ({e.strerror})") from None
    text = raw
    if raw[:2] == b"\x1f\x8b":
        try:
            text = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise ConversionError(f"{path}: corrupt gzip file ({e})") from None
    if not text.strip():
        raise ConversionError(f"{path}: the file is empty")
    return hashlib.sha256(raw).hexdigest(), text


def _split_fields(line):
    """Fields of one CSV line (plain or double-quoted, no embedded commas)."""
    fields = line.rstrip(b"\r").split(b",")
    return [f.strip().strip(b'"') for f in fields]


def parse_header(line, path="CSV"):
    """Column positions of the required columns.

    Parameters
    ----------
    line : bytes
        The header line.

    Returns
    -------
    dict of str to int

    Raises
    ------
    ConversionError
        A required column is missing.
    """
    try:
        names = [f.decode("utf-8").lstrip("\ufeff") for f in _split_fields(line)]
    except UnicodeDecodeError:
        raise ConversionError(f"{path}: not a text CSV file (line 1 is not UTF-8)") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ConversionError(
            f"{path}: line 1: missing column(s) {', '.join(missing)} "
            f"(expected a header with {', '.join(REQUIRED_COLUMNS)}; found {short(', '.join(names), 120) if names else 'nothing'})"
        )
    return {c: names.index(c) for c in REQUIRED_COLUMNS} | {"n_fields": len(names)}


def check_row(fields, columns):
    """Label and split of one row, or the problem with them.

    Parameters
    ----------
    fields : list of bytes
    columns : dict
        As returned by :func:`parse_header`.

    Returns
    -------
    (label, split, problem) : (int or None, str or None, str or None)
    """
    if len(fields) != columns["n_fields"]:
        return None, None, f"expected {columns['n_fields']} fields, got {len(fields)}"
    raw_label = fields[columns["emotion"]]
    try:
        label = int(raw_label)
    except ValueError:
        return None, None, f"label {short(raw_label)} is not an integer"
    if not 0 <= label < len(EMOTIONS):
        return None, None, f"label {label} outside 0..{len(EMOTIONS) - 1}"
    split = fields[columns["Usage"]].decode(errors="replace")
    if split not in SPLITS:
        return None, None, f"unknown Usage {short(split)} (expected one of {', '.join(SPLITS)})"
    return label, split, None


def parse_pixels(text, n_pixels):
    """Pixels of one row.

    Parameters
    ----------
    text : bytes
        Space-separated integers.
    n_pixels : int
        Expected count.

    Returns
    -------
    (pixels, problem) : (uint8 ndarray or None, str or None)
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            values = np.fromstring(text, dtype=np.int64, sep=" ")
    except (DeprecationWarning, ValueError):
        values = None
    if values is None or (values.size != n_pixels and values.size < len(text.split())):
        for i, token in enumerate(text.split()):
            if not token.lstrip(b"-").isdigit():
                return None, f"pixel {i + 1} is not an integer: {short(token)}"
        values = np.array(text.split(), dtype=np.int64)
    if values.size != n_pixels:
        return None, f"expected {n_pixels} pixel values, got {values.size}"
    low, high = values.min(), values.max()
    if low < 0 or high > 255:
        bad = low if low < 0 else high
        return None, f"pixel value {bad} outside 0..255"
    return values.astype(np.uint8), None


def read_ferplus(path):
    """The rows of a FERPlus vote file and the label each row's votes give,
    by the protocol of FERPlus' authors (Barsoum et al. 2016, and their reader).

    Per face: votes of 1 are dropped as outliers; the majority label exists
    only where the top column holds more than half of the remaining votes; a
    face whose majority is ``unknown`` or ``NF`` (not a face), or that has no
    image name (FERPlus gave those no image), gets no label. The remaining
    votes over the eight emotions are the face's label distribution.

    The file is aligned with ``fer2013.csv`` row by row: its ``Image name`` is
    a running counter over the rows that have one (and four names stand on
    two rows each in the published file), so it is not checked as a row index.

    Parameters
    ----------
    path : str
        ``fer2013new.csv`` (plain or gzip-compressed).

    Returns
    -------
    dict
        ``sha256``; ``usages`` (list of str); ``labels`` ((N,) int64, a
        class id of :data:`parameters.FERPLUS_CLASSES`, or -1); ``dropped``
        ((N,) reasons, "" where labelled); ``votes`` ((N, 8) float32, the
        remaining votes per class id).

    Raises
    ------
    ConversionError
        Missing columns, or a row whose votes are not counts (one line).
    """
    sha256, text = read_source(path)
    lines = [line for line in text.split(b"\n") if line.strip()]
    try:
        names = [f.decode("utf-8").lstrip("\ufeff") for f in _split_fields(lines[0])]
    except UnicodeDecodeError:
        raise ConversionError(f"{path}: not a text CSV file (line 1 is not UTF-8)") from None
    missing = [c for c in FERPLUS_COLUMNS if c not in names]
    if missing:
        raise ConversionError(f"{path}: not a FERPlus vote file: missing column(s) {', '.join(missing)} "
                              f"(expected {', '.join(FERPLUS_COLUMNS)})")
    at = [names.index(c) for c in FERPLUS_COLUMNS]
    usages, named, counts = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        fields = _split_fields(line)
        if len(fields) != len(names):
            raise ConversionError(f"{path}: line {number}: expected {len(names)} fields, got {len(fields)}")
        usages.append(fields[at[0]].decode(errors="replace"))
        named.append(bool(fields[at[1]].strip()))
        try:
            row = [int(fields[i]) for i in at[2:]]
        except ValueError:
            raise ConversionError(f"{path}: line {number}: the votes must be whole numbers") from None
        if not all(0 <= v <= MAX_VOTES for v in row):
            raise ConversionError(f"{path}: line {number}: a vote count outside 0..{MAX_VOTES}")
        counts.append(row)
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, len(FERPLUS_COLUMNS) - 2)
    kept = np.where(counts > 1, counts, 0)  # single votes are outliers
    top = kept.max(axis=1, initial=0)
    winner = kept.argmax(axis=1)
    majority = 2 * top > kept.sum(axis=1)
    # The first reason that holds, in this order, drops a row.
    reasons = {"no image name": ~np.asarray(named, bool), "no majority": ~majority,
               "majority unknown": winner == 8, "majority not a face": winner == 9}
    dropped = np.select(list(reasons.values()), list(reasons), default="")
    ids = np.asarray(FERPLUS_CLASS_IDS)
    labels = np.where(dropped == "", ids[np.minimum(winner, 7)], -1)
    votes = np.zeros((len(counts), len(FERPLUS_CLASSES)), np.float32)
    votes[:, ids] = kept[:, :8]
    return {"sha256": sha256, "usages": usages, "labels": labels.astype(np.int64), "dropped": dropped, "votes": votes}


# --------------------------------------------------------------------------
# Workers

def _convert_chunk(task):
    """Parse and featurise one chunk of rows.

    Parameters
    ----------
    task : tuple
        ``(texts, lines, landmarks, hog, spec)``: pixel strings, their line
        numbers, which features to compute and the
        :class:`~features.spec.FeatureSpec` (image side, landmark box, HOG
        settings).

    Returns
    -------
    dict
        ``keep`` (indices into the chunk of rows that parsed), ``images``,
        the feature arrays, and ``bad``: list of ``(line, problem)``.
    """
    texts, lines, landmarks, hog, spec = task
    size = spec.image_size
    images, keep, bad = [], [], []
    for i, (text, line) in enumerate(zip(texts, lines)):
        pixels, problem = parse_pixels(text, size * size)
        if problem:
            bad.append((line, problem))
        else:
            keep.append(i)
            images.append(pixels)
    images = np.stack(images).reshape(-1, size, size) if images else np.zeros((0, size, size), np.uint8)
    images = spec.align_faces(images)[0]
    out = {"keep": np.asarray(keep, dtype=np.int64), "images": images, "bad": bad}
    if len(images):
        out.update(spec.extract(images, landmarks=landmarks, hog=hog))
    return out


def _warm_up():
    """Load the landmark model once per worker. A failure is left to the
    first chunk, which raises it again where the main process sees it (a
    failing pool initializer would only be restarted, forever)."""
    from .landmarks import MissingModelError, shape_predictor

    try:
        shape_predictor()
    except MissingModelError:
        pass


# --------------------------------------------------------------------------
# The conversion


def select_rows(text, expressions, limit=0, skip_bad_rows=False, path="CSV", ferplus=None):
    """Rows to convert, with their labels and splits.

    Parameters
    ----------
    text : bytes
        Decompressed CSV.
    expressions : sequence of int
        Original class ids to keep; labels become their position here.
    limit : int, optional
        Keep at most this many rows per split (0: all).
    skip_bad_rows : bool, optional
        Skip malformed rows instead of stopping.
    ferplus : dict, optional
        :func:`read_ferplus`'s result, aligned row by row with the CSV: its
        labels replace the CSV's.

    Returns
    -------
    dict
        ``texts`` (pixel strings), ``lines`` (1-based line numbers),
        ``labels`` (remapped), ``splits`` (names), ``bad`` (list of
        ``(line, problem)``), ``rows`` (0-based data rows) and ``dropped``
        (FERPlus reasons and their counts).

    Raises
    ------
    ConversionError
        Missing columns, a malformed row without ``skip_bad_rows``, or a
        vote file that does not match the CSV row by row.
    """
    lines = text.split(b"\n")
    columns = parse_header(lines[0], path)
    remap = {e: i for i, e in enumerate(expressions)}
    per_split = dict.fromkeys(SPLITS, 0)
    texts, numbers, labels, splits, bad, rows, dropped = [], [], [], [], [], [], {}
    data = [(number, line) for number, line in enumerate(lines[1:], start=2) if line.strip()]
    if ferplus is not None and len(ferplus["usages"]) != len(data):
        raise ConversionError(f"the FERPlus vote file has {len(ferplus['usages'])} rows and {path} {len(data)}: "
                              "the vote file must match fer2013.csv row by row")
    for row, (number, line) in enumerate(data):
        fields = _split_fields(line)
        label, split, problem = check_row(fields, columns)
        if problem:
            if not skip_bad_rows:
                raise ConversionError(f"{path}: line {number}: {problem}")
            bad.append((number, problem))
            continue
        if ferplus is not None:
            if ferplus["usages"][row] != split:
                raise ConversionError(f"the FERPlus vote file's row {row + 1} is {ferplus['usages'][row]!r}, "
                                      f"{path}'s (line {number}) is {split!r}: the vote file is not in this "
                                      "CSV's row order")
            label = int(ferplus["labels"][row])
            if label < 0:
                reason = str(ferplus["dropped"][row])
                dropped[reason] = dropped.get(reason, 0) + 1
                continue
        if label not in remap or (limit and per_split[split] >= limit):
            continue
        per_split[split] += 1
        texts.append(fields[columns["pixels"]])
        numbers.append(number)
        labels.append(remap[label])
        splits.append(split)
        rows.append(row)
    return {"texts": texts, "lines": numbers, "labels": labels, "splits": splits, "bad": bad, "rows": rows,
            "dropped": dropped}


def run_chunks(pool, tasks, progress, work=_convert_chunk, unit="rows"):
    """Run ``work`` over tasks (in the pool, if any), in order, with a progress bar.

    Each task's first item is the list it works through (the bar counts its length).
    """
    from tqdm import tqdm

    bar = tqdm(total=sum(len(t[0]) for t in tasks), unit=unit, desc="convert", disable=None if progress else True)
    try:
        results = pool.imap(work, tasks) if pool is not None else map(work, tasks)
        for task, result in zip(tasks, results):
            bar.update(len(task[0]))
            yield result
    finally:
        bar.close()


def _start_pool(workers, landmarks, context="fork"):
    """Worker processes, started before the file is read so that they stay
    small and load the landmark model while the main process parses.

    ``context="forkserver"`` starts them from a clean process instead of this
    one: for workers that run dlib's CNN face detector, whose thread pool a
    forked child inherits broken (it hangs) once this process has used it.
    """
    if workers <= 1:
        return None
    return multiprocessing.get_context(context).Pool(workers, initializer=_warm_up if landmarks else None)


def convert(
    csv_path,
    out_dir,
    expressions=None,
    landmarks=True,
    hog=True,
    limit=DATASET.limit,
    workers=DATASET.workers,
    skip_bad_rows=False,
    force=False,
    progress=True,
    spec=None,
    chunk_rows=DATASET.chunk_rows,
    ferplus=None,
    ferplus_labels="majority",
):
    """Convert ``fer2013.csv`` into per-split numpy arrays.

    Writes ``<out_dir>/<split>/{images,labels,landmarks,hog,hog_windows}.npy``
    and ``<out_dir>/manifest.json``.

    Parameters
    ----------
    csv_path : str
        ``fer2013.csv`` or ``fer2013.csv.gz``.
    out_dir : str
        Output folder; must not exist unless ``force``.
    expressions : sequence of int, optional
        Original class ids to keep, in the order of the new labels (default:
        all seven, or with ``ferplus`` all eight, contempt being 7).
    landmarks, hog : bool, optional
        Which features to compute.
    limit : int, optional
        First ``limit`` rows per split (0: all).
    workers : int, optional
        Worker processes (0: one per core).
    skip_bad_rows : bool, optional
        Skip and count malformed rows instead of stopping at the first.
    force : bool, optional
        Replace an existing output folder (only once the new one is complete).
    progress : bool, optional
        Show a progress bar on a terminal.
    spec : features.spec.FeatureSpec, optional
        Image size and landmark and HOG settings (default: ``parameters.FEATURES``);
        recorded in the manifest, and from there in every model trained on the output.
    chunk_rows : int, optional
        Rows handed to a worker at a time.
    ferplus : str, optional
        Microsoft's FERPlus vote file (``fer2013new.csv``), aligned row by row
        with ``csv_path``: its votes replace the CSV's labels (see
        :func:`read_ferplus`); dropped rows are counted in the manifest.
    ferplus_labels : {"majority", "distribution"}, optional
        With ``ferplus``: train on the majority label, or on the vote
        distribution over the kept classes (``label_distribution.npy``, soft
        labels; ``labels.npy`` still holds the majority).

    Returns
    -------
    dict
        The manifest.
    """
    started = time.perf_counter()
    spec = spec or FeatureSpec()
    if spec.image_size != 48:
        raise ConversionError(f"FER-2013 faces are 48x48: a feature specification of {spec.image_size}px "
                              "cannot convert it")
    names = FERPLUS_CLASSES if ferplus else EMOTIONS
    expressions = tuple(int(e) for e in (range(len(names)) if expressions is None else expressions))
    if not expressions or len(set(expressions)) != len(expressions) or not all(0 <= e < len(names) for e in expressions):
        raise ConversionError(f"--expressions must be distinct class ids in 0..{len(names) - 1}, got {expressions}")
    if ferplus_labels not in FERPLUS_LABELS:
        raise ConversionError(f"--ferplus-labels must be one of {', '.join(FERPLUS_LABELS)}, got {ferplus_labels!r}")
    out_dir = os.path.abspath(out_dir)
    clean_stale(out_dir)  # temporary folders of killed conversions
    if os.path.exists(out_dir) and not force:
        raise ConversionError(f"{out_dir} already exists: use --force to replace it")
    pool = _start_pool(workers or os.cpu_count() or 1, landmarks)
    try:
        votes = read_ferplus(ferplus) if ferplus else None
        sha256, text = read_source(csv_path)
        rows = select_rows(text, expressions, limit=limit, skip_bad_rows=skip_bad_rows, path=csv_path,
                           ferplus=votes)
        del text
        n_rows = len(rows["texts"])
        if n_rows == 0:
            raise ConversionError(f"{csv_path}: no rows to convert")
        chunk = chunk_rows
        tasks = [(rows["texts"][s : s + chunk], rows["lines"][s : s + chunk], landmarks, hog, spec)
                 for s in range(0, n_rows, chunk)]
        del rows["texts"]
        keep, parts, bad_pixels = [], {}, []
        for start, result in zip(range(0, n_rows, chunk), run_chunks(pool, tasks, progress)):
            if result["bad"] and not skip_bad_rows:
                line, problem = result["bad"][0]
                raise ConversionError(f"{csv_path}: line {line}: {problem}")
            bad_pixels.extend(result["bad"])
            keep.append(result["keep"] + start)
            for name, array in result.items():
                if name not in ("keep", "bad"):
                    parts.setdefault(name, []).append(array)
        del tasks
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    keep = np.concatenate(keep)
    arrays = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    arrays["labels"] = np.asarray(rows["labels"], dtype=np.int64)[keep]
    splits = np.asarray(rows["splits"])[keep]
    bad = sorted(rows["bad"] + bad_pixels)
    labels_info = {"source": "csv"}
    if votes is not None:
        labels_info = {"source": "ferplus", "file": os.path.abspath(ferplus), "sha256": votes["sha256"],
                       "mode": ferplus_labels, "protocol": FERPLUS_PROTOCOL, "dropped": rows["dropped"]}
        if ferplus_labels == "distribution":
            dist = votes["votes"][np.asarray(rows["rows"], dtype=np.int64)[keep]][:, list(expressions)]
            arrays["label_distribution"] = dist / dist.sum(axis=1, keepdims=True)

    manifest = {
        "toolkit_version": VERSION,
        "source": os.path.abspath(csv_path),
        "source_sha256": sha256,
        "classes": [names[e] for e in expressions],
        "class_ids": list(expressions),
        "labels": labels_info,
        "soft_labels": "label_distribution" in arrays,
        "features": sorted(n for n in arrays if n not in NOT_FEATURES),
        "feature_spec": spec.settings(),
        "feature_dimensions": {n: d for n, d in spec.dimensions().items() if n in arrays},
        "counts": {},
        "bad_rows": {"count": len(bad), "first": [{"line": l, "problem": p} for l, p in bad[:100]]},
        "parameters": {
            "chunk_rows": chunk_rows,
            "expressions": list(expressions),
            "limit": limit,
            "landmarks": landmarks,
            "hog": hog,
            "skip_bad_rows": skip_bad_rows,
        },
    }
    return write_output(out_dir, arrays, splits, manifest, started)


def write_output(out_dir, arrays, splits, manifest, started):
    """Write converted arrays, split by split, and the manifest, into a
    temporary folder that then replaces ``out_dir``.

    Parameters
    ----------
    out_dir : str
    arrays : dict of str to ndarray
        ``images``, ``labels`` and the feature arrays, one row per face.
    splits : (N,) ndarray of str
        Each row's split.
    manifest : dict
        Completed here with ``counts`` and ``seconds``.
    started : float
        ``time.perf_counter()`` at the start of the conversion.

    Returns
    -------
    dict
        The manifest.
    """
    classes = manifest["classes"]
    tmp_dir = f"{out_dir}.tmp-{os.getpid()}"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    try:
        for split in SPLITS:
            mask = splits == split
            os.makedirs(os.path.join(tmp_dir, split))
            for name, array in arrays.items():
                if isinstance(array, np.ndarray):
                    np.save(os.path.join(tmp_dir, split, f"{name}.npy"), array[mask])
                else:  # a list of text lines, one per row
                    with open(os.path.join(tmp_dir, split, name), "w") as f:
                        f.writelines(f"{line}\n" for line, m in zip(array, mask) if m)
            counts = np.bincount(arrays["labels"][mask], minlength=len(classes))
            manifest["counts"][split] = {"total": int(mask.sum()), **{c: int(n) for c, n in zip(classes, counts)}}
        manifest["seconds"] = round(time.perf_counter() - started, 2)
        with open(os.path.join(tmp_dir, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2)
        replace_folder(tmp_dir, out_dir)  # the old output stays until the new one is in place
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return manifest


def summary(manifest):
    """A few human-readable lines about a finished conversion."""
    lines = []
    for split, counts in manifest["counts"].items():
        per_class = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "total")
        lines.append(f"{split:<12} {counts['total']:>6} rows  ({per_class})")
    dims = ", ".join(f"{k} {v}" for k, v in manifest["feature_dimensions"].items())
    lines.append(f"features: {dims or 'none'} ({FeatureSpec.from_json(manifest['feature_spec'], 'none').describe()})")
    bad = manifest.get("bad_rows", {"count": 0})
    if bad["count"]:
        lines.append(f"skipped {bad['count']} bad row(s), first: line "
                     f"{bad['first'][0]['line']}: {bad['first'][0]['problem']}")
    dropped = manifest.get("labels", {}).get("dropped")
    if dropped:
        lines.append("FERPlus rows dropped: " + ", ".join(f"{n} {reason}" for reason, n in sorted(dropped.items())))
    skipped = manifest.get("skipped")
    if skipped and skipped["count"]:
        lines.append(f"skipped {skipped['count']} file(s): "
                     + ", ".join(f"{n} {reason}" for reason, n in sorted(skipped["reasons"].items()))
                     + f" (listed in {MANIFEST})")
    lines.append(f"done in {manifest['seconds']} s")
    return "\n".join(lines)
