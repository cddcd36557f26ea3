"""Benchmark: dlib's shape predictor called per image against the toolkit's
batch evaluation of the same model (features/shape_predictor.py), side by side
on the same FER-2013 faces, one core each, median of several repeats. Also
checks that both give the same landmarks.

    python benchmarks/landmarks.py --csv ../shared/fer2013/fer2013.csv.gz --rows 4000
    python benchmarks/landmarks.py --blocks 64,128,256,512,1024   # the batch side by block size
"""

import argparse
import os
import statistics
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_faces(csv_path, rows):
    """The first ``rows`` faces of the CSV, as (N, 48, 48) uint8."""
    import gzip

    opener = gzip.open if csv_path.endswith(".gz") else open
    faces = []
    with opener(csv_path, "rt") as f:
        f.readline()
        for line in f:
            if len(faces) >= rows:
                break
            faces.append(np.array(line.split(",")[1].split(), dtype=np.uint8).reshape(48, 48))
    return np.stack(faces)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--csv", default=os.path.join(os.path.dirname(ROOT), "shared", "fer2013", "fer2013.csv.gz"),
                   help="FER-2013 CSV (.csv or .csv.gz)")
    p.add_argument("--rows", type=int, default=4000, help="faces to time")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats of each side (median reported)")
    p.add_argument("--blocks", help="instead, time the batch evaluation with each of these block sizes "
                                    "(images taken through the trees together), comma-separated")
    args = p.parse_args()

    import dlib

    from fer_toolkit.features.landmarks import dlib_shape_predictor, shape_predictor
    from fer_toolkit.parameters import FEATURES

    faces = read_faces(args.csv, args.rows)
    box = FEATURES.landmark_box
    rect = dlib.rectangle(*box)
    reference, ours = dlib_shape_predictor(), shape_predictor()
    ours(faces[:8], box)  # compile (or load the compiled code) before timing
    if args.blocks:
        sizes = [int(b) for b in args.blocks.split(",")]
        times = {b: [] for b in sizes}
        for _ in range(args.repeats):  # interleaved
            for b in sizes:
                started = time.perf_counter()
                ours(faces, box, block=b)
                times[b].append(time.perf_counter() - started)
        print(f"faces: {len(faces)}; repeats: {args.repeats}; one core")
        for b in sizes:
            print(f"block {b:>5}: {statistics.median(times[b]) / len(faces) * 1e3:.3f} ms an image")
        return

    def run_dlib():
        return np.array([[(q.x, q.y) for q in reference(face, rect).parts()] for face in faces], np.float32)

    times = {"dlib": [], "batch": []}
    for _ in range(args.repeats):  # interleaved, so both sides see the same machine
        for name, fn in (("dlib", run_dlib), ("batch", lambda: ours(faces, box))):
            started = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - started)
            if name == "dlib":
                expected = result
            elif not np.array_equal(result, expected):
                raise SystemExit("landmarks differ from dlib's")
    per = {k: statistics.median(v) / len(faces) * 1e3 for k, v in times.items()}
    print(f"faces: {len(faces)}; repeats: {args.repeats}; one core; identical landmarks: yes")
    print(f"dlib, per image:         {per['dlib']:.3f} ms")
    print(f"batch (tree-major):      {per['batch']:.3f} ms")
    print(f"speed-up: {per['dlib'] / per['batch']:.2f}x")


if __name__ == "__main__":
    main()
