"""Benchmark: your own labelled folder. Fine-tuning the shipped model against
training from scratch, and the speed of ``fer-convert --images`` against the
CSV path on the same faces.

It writes FER-2013 faces as PNG files into a labelled folder tree:
``train/<class>/`` holds up to ``--per-class`` PublicTest faces per class,
``test/<class>/`` every PrivateTest face. ``fer-convert --images`` converts
it (the validation split is carved out of ``train``), then two runs train
for the same number of epochs (early stopping off): one from the shipped
model (``--init shipped``), one from scratch with the shipped model's
architecture. Both are evaluated on the folder's ``test`` split. The shipped
model never trained on PublicTest or PrivateTest (it chose its epoch on
PublicTest).

Conversion speed: the PrivateTest PNGs as one ``<class>/`` tree, and a CSV
of the same rows, each converted by ``fer-convert`` with the default workers.

    python benchmarks/finetune.py --csv ../shared/fer2013/fer2013.csv.gz --work /tmp/finetune-bench
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def read_rows(csv_path):
    """Labels, splits and pixel rows of fer2013.csv."""
    from fer_toolkit.features.conversion import read_source, select_rows

    _, text = read_source(csv_path)
    rows = select_rows(text, range(7), path=csv_path)
    return rows


def export(rows, split, root, per_class, with_split=None, lines=None):
    """Write a split's faces as PNGs into ``root/[with_split/]<class>/``; returns the rows written."""
    from PIL import Image

    written, counts = [], {}
    for text, label, s in zip(rows["texts"], rows["labels"], rows["splits"]):
        if s != split or (per_class and counts.get(label, 0) >= per_class):
            continue
        counts[label] = counts.get(label, 0) + 1
        folder = os.path.join(root, *([with_split] if with_split else []), FOLDER_NAMES[label])
        os.makedirs(folder, exist_ok=True)
        pixels = np.array(text.split(), dtype=np.uint8).reshape(48, 48)
        Image.fromarray(pixels).save(os.path.join(folder, f"{split}-{len(written):05d}.png"))
        written.append((label, text))
    return written


def run(command, log):
    """Run a command, its output into ``log``; returns seconds."""
    started = time.perf_counter()
    with open(log, "w") as f:
        subprocess.run(command, check=True, stdout=f, stderr=subprocess.STDOUT)
    return time.perf_counter() - started


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--csv", required=True, help="fer2013.csv or .csv.gz")
    p.add_argument("--work", default="/tmp/finetune-bench", help="scratch folder (replaced)")
    p.add_argument("--per-class", type=int, default=100, help="PublicTest faces per class in the train folder")
    p.add_argument("--epochs", type=int, default=30, help="epochs of each run (the same budget for both)")
    p.add_argument("--repeats", type=int, default=3, help="conversions of each kind, alternating (medians reported)")
    p.add_argument("--skip-training", action="store_true", help="measure conversion speed only")
    args = p.parse_args()

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    bin_dir = os.path.dirname(sys.executable)
    tool = lambda name: os.path.join(bin_dir, name)  # noqa: E731
    rows = read_rows(args.csv)
    tree = os.path.join(args.work, "folder")
    export(rows, "PublicTest", tree, args.per_class, "train")
    test_rows = export(rows, "PrivateTest", tree, 0, "test")
    flat = os.path.join(args.work, "private-png")
    export(rows, "PrivateTest", flat, 0)
    csv_path = os.path.join(args.work, "private.csv")
    with open(csv_path, "w") as f:
        f.write("emotion,pixels,Usage\n")
        f.writelines(f"{label},{text.decode()},Training\n" for label, text in test_rows)
    result = {"machine": f"{os.cpu_count()} cores", "per_class": args.per_class, "epochs": args.epochs}

    times = {"images": [], "csv": []}
    for _ in range(args.repeats):  # alternating, so that both see the same machine load
        times["images"].append(run([tool("fer-convert"), "--images", flat, "--out", os.path.join(args.work, "c-img"),
                                    "--no-progress", "--force"], os.path.join(args.work, "convert-images.log")))
        times["csv"].append(run([tool("fer-convert"), "--csv", csv_path, "--out", os.path.join(args.work, "c-csv"),
                                 "--no-progress", "--force"], os.path.join(args.work, "convert-csv.log")))
    result["convert_images_s"] = round(float(np.median(times["images"])), 2)
    result["convert_csv_s"] = round(float(np.median(times["csv"])), 2)
    result["convert_rows"] = len(test_rows)
    converted = json.load(open(os.path.join(args.work, "c-img", "manifest.json")))
    result["convert_images_rows"] = sum(v["total"] for v in converted["counts"].values())
    result["convert_images_skipped"] = converted["skipped"]["reasons"]
    data = os.path.join(args.work, "data")
    result["convert_tree_s"] = round(run([tool("fer-convert"), "--images", tree, "--out", data, "--no-progress"],
                                         os.path.join(args.work, "convert-tree.log")), 2)
    manifest = json.load(open(os.path.join(data, "manifest.json")))
    result["tree_counts"] = {k: v["total"] for k, v in manifest["counts"].items()}
    result["tree_skipped"] = manifest["skipped"]["reasons"]
    print(json.dumps(result), flush=True)
    if args.skip_training:
        return
    from fer_toolkit.models.evaluate import evaluate

    shipped = json.load(open(os.path.join(ROOT, "models", "pretrained", "fer2013", "bundle.json")))
    filters = ",".join(str(f) for f in shipped["train_args"]["filters_b"])
    common = ["--data", data, "--epochs", str(args.epochs), "--early-stopping-patience", str(args.epochs),
              "--quiet", "--force"]
    runs = {"fine-tuned": ["--init", "shipped"], "scratch": ["--model", "B", "--filters-b", filters]}
    for name, flags in runs.items():
        out = os.path.join(args.work, name)
        seconds = run([tool("fer-train"), *common, "--out", out, *flags], os.path.join(args.work, f"{name}.log"))
        test = evaluate([out], data, "PrivateTest", out_dir=os.path.join(out, "eval"))
        result[name] = {"train_s": round(seconds, 1), "test_accuracy": round(test["accuracy"], 4),
                        "test_macro_f1": round(test["macro_f1"], 4), "n": test["n"]}
        print(name, json.dumps(result[name]), flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
