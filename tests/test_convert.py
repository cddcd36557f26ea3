"""Conversion: synthetic CSVs (bad rows, subsets, gzip, atomic output) and a
slice of the real dataset (shapes, ranges, landmark sanity)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fer_toolkit.features import ConversionError, convert, load_split
from fer_toolkit.features.spec import FeatureSpec

from conftest import REAL_ROWS, write_csv

FAST = dict(landmarks=False, hog=False, progress=False, workers=1)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.convert", *args],
                          capture_output=True, text=True, timeout=300)


def test_converts_synthetic_csv_with_all_features(tmp_path, synthetic_rows):
    csv = write_csv(tmp_path / "f.csv", synthetic_rows)
    manifest = convert(csv, str(tmp_path / "out"), progress=False, workers=2)
    for split in ("Training", "PublicTest", "PrivateTest"):
        d = tmp_path / "out" / split
        assert np.load(d / "images.npy").shape == (7, 48, 48)
        assert np.load(d / "images.npy").dtype == np.uint8
        assert np.load(d / "landmarks.npy").shape == (7, 68, 2)
        assert np.load(d / "hog.npy").shape == (7, 72)
        assert np.load(d / "hog_windows.npy").shape == (7, 1800)
    training = [r for r in synthetic_rows if r[2] == "Training"]
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "Training" / "images.npy"),
                                  np.stack([r[1] for r in training]))
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "Training" / "labels.npy"), [r[0] for r in training])
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["feature_dimensions"] == {"landmarks": 136, "hog": 72, "hog_windows": 1800}
    assert manifest["counts"]["Training"]["total"] == 7
    assert len(manifest["source_sha256"]) == 64


def test_features_of_conversion_equal_the_shared_function(tmp_path, synthetic_rows):
    csv = write_csv(tmp_path / "f.csv", synthetic_rows)
    convert(csv, str(tmp_path / "out"), progress=False, workers=2)
    images = np.load(tmp_path / "out" / "PublicTest" / "images.npy")
    direct = FeatureSpec().extract(images)
    for name, array in direct.items():
        np.testing.assert_array_equal(np.load(tmp_path / "out" / "PublicTest" / f"{name}.npy"), array)


def test_gzip_input_equals_plain(tmp_path, synthetic_rows):
    plain = write_csv(tmp_path / "f.csv", synthetic_rows)
    packed = write_csv(tmp_path / "f.csv.gz", synthetic_rows, compress=True)
    a = convert(plain, str(tmp_path / "a"), **FAST)
    b = convert(packed, str(tmp_path / "b"), **FAST)
    assert a["counts"] == b["counts"]
    np.testing.assert_array_equal(np.load(tmp_path / "a/Training/images.npy"), np.load(tmp_path / "b/Training/images.npy"))


def test_class_subset_is_remapped(tmp_path, synthetic_rows):
    csv = write_csv(tmp_path / "f.csv", synthetic_rows)
    manifest = convert(csv, str(tmp_path / "out"), expressions=(0, 2, 3, 4, 5, 6), **FAST)
    assert manifest["classes"] == ["Angry", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
    labels = np.load(tmp_path / "out" / "Training" / "labels.npy")
    original = [r[0] for r in synthetic_rows if r[2] == "Training" and r[0] != 1]
    np.testing.assert_array_equal(labels, [(0, 2, 3, 4, 5, 6).index(o) for o in original])
    assert "Disgust" not in manifest["counts"]["Training"]


def test_limit_takes_first_rows_per_split(tmp_path, synthetic_rows):
    csv = write_csv(tmp_path / "f.csv", synthetic_rows)
    manifest = convert(csv, str(tmp_path / "out"), limit=2, **FAST)
    assert {s: c["total"] for s, c in manifest["counts"].items()} == {"Training": 2, "PublicTest": 2, "PrivateTest": 2}


BAD_ROWS = [
    ("3," + " ".join(["1"] * 2303) + ",Training", "expected 2304 pixel values, got 2303"),
    ("3," + " ".join(["1"] * 2303) + " 1.5,Training", "pixel 2304 is not an integer: '1.5'"),
    ("3," + " ".join(["1"] * 2303) + " x,Training", "pixel 2304 is not an integer: 'x'"),
    ("3," + " ".join(["1"] * 2303) + " 256,Training", "pixel value 256 outside 0..255"),
    ("7," + " ".join(["1"] * 2304) + ",Training", "label 7 outside 0..6"),
    ("a," + " ".join(["1"] * 2304) + ",Training", "label 'a' is not an integer"),
    ("3," + " ".join(["1"] * 2304) + ",Validation", "unknown Usage 'Validation'"),
    ("3," + " ".join(["1"] * 2304), "expected 3 fields, got 2"),
]


@pytest.mark.parametrize("line, problem", BAD_ROWS)
def test_bad_row_stops_with_line_number(tmp_path, synthetic_rows, line, problem):
    rows = synthetic_rows[:5] + [line] + synthetic_rows[5:]
    csv = write_csv(tmp_path / "f.csv", rows)
    with pytest.raises(ConversionError) as err:
        convert(csv, str(tmp_path / "out"), **FAST)
    message = str(err.value)
    assert "line 7" in message and problem in message and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_skip_bad_rows_counts_them(tmp_path, synthetic_rows):
    rows = list(synthetic_rows)
    for i, (line, _) in enumerate(BAD_ROWS):
        rows.insert(2 * i, line)
    csv = write_csv(tmp_path / "f.csv", rows)
    manifest = convert(csv, str(tmp_path / "out"), skip_bad_rows=True, **FAST)
    assert manifest["bad_rows"]["count"] == len(BAD_ROWS)
    assert sum(c["total"] for c in manifest["counts"].values()) == len(synthetic_rows)
    assert [b["line"] for b in manifest["bad_rows"]["first"]] == sorted(b["line"] for b in manifest["bad_rows"]["first"])


def test_cli_bad_row_is_one_line_without_traceback(tmp_path, synthetic_rows):
    csv = write_csv(tmp_path / "f.csv", synthetic_rows[:3] + [BAD_ROWS[0][0]])
    result = run_cli("--csv", csv, "--out", str(tmp_path / "out"), "--no-landmarks", "--no-hog")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"fer-convert: error: {csv}: line 5: {BAD_ROWS[0][1]}"]


@pytest.mark.parametrize("case", ["missing", "empty", "columns", "folder", "binary", "corrupt_gz"])
def test_cli_unusable_input_is_one_line(tmp_path, case):
    path = tmp_path / "f.csv"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "columns":
        path.write_text("label,data\n1,2\n")
    elif case == "folder":
        path.mkdir()
    elif case == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif case == "corrupt_gz":
        path = tmp_path / "f.csv.gz"
        path.write_bytes(b"\x1f\x8b" + b"\x00" * 50)
    result = run_cli("--csv", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fer-convert: error:"), result.stderr
    assert "Traceback" not in result.stderr


def test_existing_output_is_refused_then_replaced_whole(tmp_path, synthetic_rows):
    csv = write_csv(tmp_path / "f.csv", synthetic_rows)
    out = tmp_path / "out"
    convert(csv, str(out), **FAST)
    (out / "stale.txt").write_text("old")
    with pytest.raises(ConversionError, match="already exists"):
        convert(csv, str(out), **FAST)
    convert(csv, str(out), force=True, limit=1, **FAST)
    assert not (out / "stale.txt").exists()
    assert json.loads((out / "manifest.json").read_text())["counts"]["Training"]["total"] == 1
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_failed_conversion_leaves_previous_output(tmp_path, synthetic_rows):
    csv = write_csv(tmp_path / "f.csv", synthetic_rows)
    out = tmp_path / "out"
    convert(csv, str(out), **FAST)
    bad = write_csv(tmp_path / "bad.csv", synthetic_rows + [BAD_ROWS[0][0]])
    with pytest.raises(ConversionError):
        convert(bad, str(out), force=True, **FAST)
    assert json.loads((out / "manifest.json").read_text())["counts"]["Training"]["total"] == 7


# ---------------------------------------------------------------- real data


def test_real_slice_shapes_and_dtypes(real_features):
    manifest = json.loads(open(os.path.join(real_features, "manifest.json")).read())
    assert manifest["classes"] == ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]
    for split in ("Training", "PublicTest", "PrivateTest"):
        d = os.path.join(real_features, split)
        images, labels = np.load(f"{d}/images.npy"), np.load(f"{d}/labels.npy")
        assert images.shape == (REAL_ROWS, 48, 48) and images.dtype == np.uint8
        assert labels.shape == (REAL_ROWS,) and np.issubdtype(labels.dtype, np.integer)
        assert labels.min() >= 0 and labels.max() <= 6
        lm = np.load(f"{d}/landmarks.npy")
        assert lm.shape == (REAL_ROWS, 68, 2) and lm.dtype == np.float32
        assert np.load(f"{d}/hog.npy").dtype == np.float32
        assert np.load(f"{d}/hog_windows.npy").shape == (REAL_ROWS, 1800)
    images, features, labels = load_split(real_features, "PrivateTest", "landmarks_hog_windows")
    assert features.shape == (REAL_ROWS, 136 + 1800)


def test_real_landmarks_are_plausible(real_features):
    lm = np.load(os.path.join(real_features, "Training", "landmarks.npy"))
    inside = (lm >= 0) & (lm <= 47)
    assert inside.all()
    eyes_y = lm[:, 36:48, 1].mean(axis=1)
    mouth_y = lm[:, 48:68, 1].mean(axis=1)
    assert np.mean(eyes_y < mouth_y) >= 0.95
    # The right eye (36-41) is on the image's left of the left eye (42-47).
    assert np.mean(lm[:, 36:42, 0].mean(1) < lm[:, 42:48, 0].mean(1)) >= 0.95
