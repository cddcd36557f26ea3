"""Benchmark: models A and B with each feature set, trained the same way.

Every configuration is trained by ``fer-train`` with the same budget (epochs,
Training rows, seed, default hyperparameters) and evaluated on PublicTest and
PrivateTest. Prints a Markdown table with parameter counts and the CPU time
per epoch.

    python benchmarks/compare.py --data data/features --epochs 3 --train-limit 8000
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/features")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-limit", type=int, default=8000)
    p.add_argument("--models", default="A,B")
    p.add_argument("--features", default="none,landmarks,landmarks_hog,landmarks_hog_windows")
    args = p.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; budget: {args.epochs} epochs on the first {args.train_limit} Training "
          "images, default settings, seed 1234")
    print("| model | features | parameters | s/epoch | images/s | PublicTest | PrivateTest |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for model in args.models.split(","):
        for fs in args.features.split(","):
            with tempfile.TemporaryDirectory() as out:
                subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "--data", args.data,
                                "--model", model, "--features", fs, "--epochs", str(args.epochs),
                                "--train-limit", str(args.train_limit), "--out", out, "--quiet"],
                               check=True, capture_output=True)
                meta = json.load(open(os.path.join(out, "bundle.json")))
                history = json.load(open(os.path.join(out, "state.json")))["history"]
                res = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "evaluate.py"), "--model", out,
                                      "--data", args.data, "--split", "PrivateTest", "--json"],
                                     check=True, capture_output=True, text=True)
                private = json.loads(res.stdout)["accuracy"]
            seconds = sorted(h["seconds"] for h in history)[len(history) // 2]
            rate = sorted(h["images_per_second"] for h in history)[len(history) // 2]
            print(f"| {model} | {fs} | {meta['parameters']:,} | {seconds:.1f} | {rate:.0f} | "
                  f"{meta['metrics']['PublicTest']['accuracy']:.4f} | {private:.4f} |", flush=True)


if __name__ == "__main__":
    main()
