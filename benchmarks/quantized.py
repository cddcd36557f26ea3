"""Benchmark: video's 8-bit classifier against the float32 one, on a converted split.

Runs a model's LiteRT classifier both ways (float32, and with its weights
quantised to 8 bits as ``fer-video`` and ``Recognizer.stream`` run it:
``parameters.VideoPredictor.video_quantized``) over every face of a split,
16 faces a call, and prints each one's accuracy, how often the two give the
same label, the largest difference of a probability, and the size of each
converted model.

    python benchmarks/quantized.py --model ferplus --data ~/fer-data/ferplus --split PrivateTest
    python benchmarks/quantized.py --model fer2013 --data ~/fer-data/fer2013 --split PublicTest
"""

import argparse

import numpy as np


def probabilities(runner, crops, features, batch=16):
    """Class probabilities of every face, ``batch`` faces a call."""
    return np.concatenate([runner.predict_proba(crops[i : i + batch], features[i : i + batch])
                           for i in range(0, len(crops), batch)])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="shipped model's name or bundle folder (default: the default model)")
    p.add_argument("--data", required=True, help="output folder of fer-convert with the model's classes")
    p.add_argument("--split", default="PublicTest", help="split to compare on (default: PublicTest)")
    p.add_argument("--limit", type=int, default=0, help="first N faces only (0: all)")
    args = p.parse_args(argv)

    from fer_toolkit.features.io import load_arrays
    from fer_toolkit.models.bundle import load_bundle
    from fer_toolkit.models.fast import ClassifierRunner, litert_model

    bundle = load_bundle(args.model)
    names = tuple(n for n in ("landmarks", "hog", "hog_windows") if n in bundle.spec.arrays)
    arrays = load_arrays(args.data, args.split, names=names, limit=args.limit)
    crops, labels = arrays["images"], arrays["labels"]
    features = bundle.spec.stack(arrays)
    float32 = probabilities(ClassifierRunner(bundle), crops, features)
    q8 = probabilities(ClassifierRunner(bundle, quantized=True), crops, features)
    print(f"{bundle.path}: {args.split}, {len(labels)} faces")
    for name, probs, quantized in (("float32", float32, False), ("8-bit weights", q8, True)):
        size = len(litert_model(bundle, quantized=quantized)) / 1e6
        print(f"  {name:<14} accuracy {np.mean(probs.argmax(1) == labels):.2%}  model {size:.1f} MB")
    print(f"  same label on {np.mean(q8.argmax(1) == float32.argmax(1)):.2%} of faces "
          f"({int(np.sum(q8.argmax(1) != float32.argmax(1)))} differ); largest probability difference "
          f"{np.abs(q8 - float32).max():.3f}")


if __name__ == "__main__":
    main()
