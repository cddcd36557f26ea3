"""Benchmark: fer-convert against a straightforward per-image loop, side by side
on the same rows in one run.

The straightforward loop parses each row, runs dlib's landmark predictor, one
scikit-image ``hog`` over the image and one ``hog`` call per 24x24 window, in
one process. The fast path is ``features.conversion.convert`` (vectorised HOG,
worker processes). Peak memory is the largest total resident memory (PSS) of the
conversion's process tree, sampled every 50 ms.

    python benchmarks/convert.py --csv ../shared/fer2013/fer2013.csv.gz
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def naive_loop(csv_path, rows):
    """Convert ``rows`` rows the straightforward way; returns seconds."""
    import dlib
    import numpy as np
    from skimage.feature import hog

    from fer_toolkit.features.landmarks import predictor_path
    from fer_toolkit.parameters import FEATURES as P

    predictor = dlib.shape_predictor(predictor_path())
    rect = dlib.rectangle(*P.landmark_box)
    opener = gzip.open if csv_path.endswith(".gz") else open
    started = time.perf_counter()
    out = []
    with opener(csv_path, "rt") as f:
        f.readline()
        for i, line in enumerate(f):
            if i >= rows:
                break
            label, pixels, usage = line.strip().split(",")
            image = np.array(pixels.split(), dtype=np.uint8).reshape(48, 48)
            shape = predictor(image, rect)
            landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            whole = hog(image, orientations=P.hog_orientations, pixels_per_cell=(P.hog_cell,) * 2,
                        cells_per_block=(1, 1))
            windows = []
            for y in range(0, 48 - P.window_size + 1, P.window_step):
                for x in range(0, 48 - P.window_size + 1, P.window_step):
                    windows.extend(hog(image[y : y + P.window_size, x : x + P.window_size],
                                       orientations=P.window_orientations,
                                       pixels_per_cell=(P.window_cell,) * 2, cells_per_block=(1, 1)))
            out.append((int(label), usage, landmarks, whole, np.array(windows, dtype=np.float32)))
    return time.perf_counter() - started


def _children(pid):
    """Child process ids of ``pid``."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def _tree_pss(root_pid):
    """Total proportional set size (bytes) of a process and its descendants.

    PSS splits pages shared between processes (the forked workers share the
    parent's pages) among them, so the sum is the real memory in use.
    """
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        stack.extend(_children(pid))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def fast_convert(csv_path, out_dir, workers):
    """Run fer-convert in a subprocess; returns (seconds, peak bytes, manifest)."""
    cmd = [sys.executable, "-m", "fer_toolkit.scripts.convert", "--csv", csv_path, "--out", out_dir,
           "--force", "--no-progress", "--workers", str(workers)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_pss(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if code:
        raise SystemExit(f"fer-convert failed with exit code {code}")
    with open(os.path.join(out_dir, "manifest.json")) as f:
        return seconds, peak, json.load(f)


def first_rows(csv_path, rows, folder):
    """A CSV of the header and the first ``rows`` rows (same rows for both paths)."""
    opener = gzip.open if csv_path.endswith(".gz") else open
    path = os.path.join(folder, "rows.csv")
    with opener(csv_path, "rt") as src, open(path, "w") as dst:
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", default=os.path.join(os.path.dirname(ROOT), "shared", "fer2013", "fer2013.csv.gz"),
                   help="fer2013.csv or .csv.gz")
    p.add_argument("--rows", type=int, default=0, help="first N rows only (0: the whole file)")
    p.add_argument("--workers", type=int, default=0, help="fer-convert workers (0: one per core)")
    p.add_argument("--skip-naive", action="store_true", help="time only fer-convert")
    args = p.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="fer-bench-")
    try:
        csv_path = first_rows(args.csv, args.rows, tmp) if args.rows else args.csv
        seconds, peak, manifest = fast_convert(csv_path, os.path.join(tmp, "out"), args.workers)
        n = sum(c["total"] for c in manifest["counts"].values())
        print(f"machine: {os.cpu_count()} cores; rows: {n}")
        print(f"fer-convert:   {seconds:7.1f} s  {n / seconds:7.0f} rows/s  peak memory {peak / 2**30:.2f} GiB")
        if not args.skip_naive:
            naive = naive_loop(csv_path, n)
            print(f"per-image loop:{naive:7.1f} s  {n / naive:7.0f} rows/s")
            print(f"speed-up: {naive / seconds:.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
