"""Benchmark: the SVM baseline on each feature set, and the RBF trade-off.

For each feature set, trains the default SVM (Nystroem RBF approximation +
linear SVM) exactly as ``fer-train --model svm`` does and reports fit time and
PublicTest / PrivateTest accuracy. Then, on a Training subset, compares an
exact RBF ``SVC`` with the Nystroem approximation, to show what the
approximation costs and saves.

    python benchmarks/svm.py --data data/features
"""

import argparse
import os
import tempfile
import time

import numpy as np



def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/features")
    p.add_argument("--subset", type=int, default=5000, help="Training rows for the exact-SVC comparison")
    p.add_argument("--features", default="landmarks,landmarks_hog,landmarks_hog_windows")
    args = p.parse_args(argv)

    from fer_toolkit.features.io import load_split
    from fer_toolkit.models.bundle import Standardizer, load_bundle
    from fer_toolkit.models.evaluate import predict_split
    from fer_toolkit.models.config import TrainingConfig
    from fer_toolkit.models.svm import build_svm
    from fer_toolkit.models.train import train_svm

    print(f"machine: {os.cpu_count()} cores")
    print("| features | kernel | fit (s) | PublicTest | PrivateTest |")
    print("| --- | --- | ---: | ---: | ---: |")
    for fs in args.features.split(","):
        for kernel in ("rbf", "linear"):
            with tempfile.TemporaryDirectory() as out:
                config = TrainingConfig(data=args.data, out=out, model="svm", features=fs, svm_kernel=kernel)
                final = train_svm(config, force=True, log=lambda *_: None)
                probs, labels = predict_split(load_bundle(out), args.data, "PrivateTest")
                private = float(np.mean(probs.argmax(1) == labels))
            print(f"| {fs} | {kernel} | {final['seconds']:.1f} | {final['val_accuracy']:.4f} | {private:.4f} |", flush=True)

    from sklearn.svm import SVC

    fs = "landmarks_hog_windows"
    _, x, y = load_split(args.data, "Training", fs)
    _, xv, yv = load_split(args.data, "PublicTest", fs)
    scale = Standardizer.fit(x)
    idx = np.random.default_rng(0).choice(len(x), args.subset, replace=False)
    xs, ys, xv = scale(x[idx]), y[idx], scale(xv)
    print(f"\nRBF trade-off on {args.subset} Training rows ({fs}), gamma = 1/n_features:")
    print("| model | fit (s) | PublicTest |")
    print("| --- | ---: | ---: |")
    for name, model in (("exact SVC (libsvm, cache 2 GB)", SVC(C=1.0, gamma="scale", cache_size=2000)),
                        ("Nystroem 3000 + LinearSVC", build_svm("rbf", 1.0, 0.0, 3000, 300, xs.shape[1]))):
        t = time.perf_counter()
        model.fit(xs, ys)
        seconds = time.perf_counter() - t
        print(f"| {name} | {seconds:.1f} | {np.mean(model.predict(xv) == yv):.4f} |", flush=True)


if __name__ == "__main__":
    main()
