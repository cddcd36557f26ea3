"""Benchmark: models A and B with each feature set, trained the same way.

Every configuration is trained by ``fer-train`` with the same budget (epochs,
Training rows, seed, hyperparameters) and evaluated on PublicTest and
PrivateTest. Prints a Markdown table with parameter counts and the CPU time
per epoch. Flags after ``--`` go to every ``fer-train`` run unchanged (the
hyperparameters; without them, the defaults of ``parameters.py``).

    python benchmarks/compare.py --data data/features --epochs 3 --train-limit 8000
    python benchmarks/compare.py --epochs 3 -- --optimizer sgd --learning-rate 0.01
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/features", help="folder written by fer-convert (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=3, help="epochs of every run (default: %(default)s)")
    p.add_argument("--train-limit", type=int, default=8000,
                   help="train on the first N Training images (default: %(default)s)")
    p.add_argument("--models", default="A,B", help="comma-separated models (default: %(default)s)")
    p.add_argument("--features", default="none,landmarks,landmarks_hog,landmarks_hog_windows",
                   help="comma-separated feature sets (default: %(default)s)")
    p.add_argument("train_args", nargs="*", metavar="-- FER-TRAIN FLAGS",
                   help="flags passed to every fer-train run (default: none, i.e. parameters.py's defaults)")
    args = p.parse_args(argv)
    settings = " ".join(args.train_args) or "default settings"
    print(f"machine: {os.cpu_count()} cores; budget: {args.epochs} epochs on the first {args.train_limit} Training "
          f"images, {settings}, seed 1234")
    print("| model | features | parameters | s/epoch | images/s | PublicTest | PrivateTest |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for model in args.models.split(","):
        for fs in args.features.split(","):
            with tempfile.TemporaryDirectory() as out:
                subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.train", "--data", args.data,
                                "--model", model, "--features", fs, "--epochs", str(args.epochs),
                                "--train-limit", str(args.train_limit), "--out", out, "--quiet", *args.train_args],
                               check=True, capture_output=True)
                meta = json.load(open(os.path.join(out, "bundle.json")))
                history = json.load(open(os.path.join(out, "state.json")))["history"]
                res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.evaluate", "--model", out,
                                      "--data", args.data, "--split", "PrivateTest", "--json"],
                                     check=True, capture_output=True, text=True)
                private = json.loads(res.stdout)["accuracy"]
            seconds = sorted(h["seconds"] for h in history)[len(history) // 2]
            rate = sorted(h["images_per_second"] for h in history)[len(history) // 2]
            print(f"| {model} | {fs} | {meta['parameters']:,} | {seconds:.1f} | {rate:.0f} | "
                  f"{meta['metrics']['PublicTest']['accuracy']:.4f} | {private:.4f} |", flush=True)


if __name__ == "__main__":
    main()
