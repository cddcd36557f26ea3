"""Benchmark: every ensemble of a set of models, on one split, from one pass of each.

Each model's probabilities on the split are computed once (``predict_split``, as
``fer-evaluate`` does); every subset, single models included, is then scored by
the mean of its members' probabilities, which is what ``fer-evaluate --model a --model b`` and a
bundle written by ``make pretrained RUN="a b"`` compute. Prints a Markdown table,
best first. Choose on PublicTest; PrivateTest is for the one chosen.

    python benchmarks/ensembles.py --data ~/fer-data/fer2013 --split PublicTest \\
        fer2013 ~/fer-runs/b-wide ~/fer-runs/fer2013-b16-s11
"""

import argparse
import itertools
import sys

import numpy as np


def member_probabilities(models, data, split, tta=False, tta_shift=0):
    """Each model's probabilities on a split, and the split's labels.

    Parameters
    ----------
    models : list of str
        Bundle folders or shipped names, all of one class list.
    data, split : str
        A folder written by ``fer-convert`` and one of its splits.
    tta : bool, optional
        Average each model over the mirror images (and shifted views with ``tta_shift``).
    tta_shift : int, optional

    Returns
    -------
    probabilities : list of (N, K) ndarray
    labels : (N,) ndarray
    """
    from fer_toolkit.models.bundle import load_bundle, resolve_model
    from fer_toolkit.models.evaluate import predict_split

    probabilities, labels, classes = [], None, None
    for model in models:
        bundle = load_bundle(resolve_model(model))
        if classes is not None and list(bundle.classes) != classes:
            raise SystemExit(f"ensembles.py: {model} has classes {list(bundle.classes)}, the first model {classes}")
        classes = list(bundle.classes)
        probs, labels = predict_split(bundle, data, split, tta=tta, tta_shift=tta_shift)
        probabilities.append(probs)
        print(f"{model}: {np.mean(probs.argmax(1) == labels):.2%} alone", file=sys.stderr, flush=True)
    return probabilities, labels


def subset_scores(probabilities, labels, smallest=1):
    """Accuracy of the mean probabilities of every subset of members.

    Parameters
    ----------
    probabilities : list of (N, K) ndarray
    labels : (N,) ndarray
    smallest : int, optional
        Fewest members a subset has.

    Returns
    -------
    list of (tuple of int, float, int)
        Member indices, accuracy and faces right, best first (fewer members first on a tie).
    """
    scores = []
    for size in range(smallest, len(probabilities) + 1):
        for members in itertools.combinations(range(len(probabilities)), size):
            mean = np.mean([probabilities[i] for i in members], axis=0)
            right = int(np.sum(mean.argmax(1) == labels))
            scores.append((members, right / len(labels), right))
    return sorted(scores, key=lambda s: (-s[2], len(s[0])))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="bundle folders or shipped names (fer2013, ferplus), one class list")
    p.add_argument("--data", required=True, help="folder written by fer-convert")
    p.add_argument("--split", default="PublicTest", help="split to score (default: %(default)s; choose on it)")
    p.add_argument("--tta", action="store_true", help="each model averaged with its mirror images")
    p.add_argument("--tta-shift", type=int, default=0, help="with --tta: ten views shifted by this many pixels")
    args = p.parse_args(argv)
    probabilities, labels = member_probabilities(args.models, args.data, args.split, args.tta, args.tta_shift)
    print(f"{args.split}, {len(labels)} faces{', flip TTA' if args.tta else ''}; models: "
          + ", ".join(f"{i + 1} = {m}" for i, m in enumerate(args.models)))
    print("| members | accuracy | faces right |")
    print("| --- | ---: | ---: |")
    for members, accuracy, right in subset_scores(probabilities, labels):
        print(f"| {' + '.join(str(i + 1) for i in members)} | {accuracy:.2%} | {right} |")


if __name__ == "__main__":
    main()
