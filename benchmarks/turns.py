"""Turned looks: the faces an evaluation missed, searched again in the photo turned, and their cost.

The turned looks (:func:`features.faces.look_turned`, ``VIDEO.photo_turns``) run only
where every other look finds no face, so they change nothing on a photo whose face is
found upright. This script takes an evaluation made without them (``fer-evaluate
--images ... --turns none``: its ``predictions.csv``), and searches each photo it missed
turned by each angle of ``--angles`` alone, then by ``--turns`` in order (the first turn
that finds a face, as the pipeline looks). It prints, per angle and for the sequence, the
faces found and right (with ``--arrays``, :mod:`photos`' ``eval-arrays``, how many of
them the arrays get right), and the whole folder's accuracy with the sequence's answers
in place of the misses.

With ``--background``, a folder of photos without a face (``benchmarks/photos.py``'s
``background640/none``): each photo's time with the turned looks of ``--turns`` and
without them, side by side (alternating, after one warm-up), and the false faces found.

    python benchmarks/photos.py --data ~/fer-data/fer2013 --split PublicTest --limit 1500 \\
        --folders scene640,background640 --out /tmp/pub-scenes --extra "--turns none"
    python benchmarks/turns.py --images /tmp/pub-scenes/scene640 --predictions /tmp/pub-scenes/eval-scene640 \\
        --arrays /tmp/pub-scenes/eval-arrays --background /tmp/pub-scenes/background640/none
"""

import argparse
import os
import sys
import time

import numpy as np

from fer_toolkit.parameters import VIDEO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from photos import arrays_right, read_predictions  # noqa: E402


def angles(text):
    """``"-30,30"`` as a tuple of floats (argparse type)."""
    return tuple(float(t) for t in text.split(",") if t.strip())


def missed_photos(predictions):
    """An evaluation's photos without a face found (``predictions.csv``): (image, label)."""
    rows = read_predictions(*os.path.split(os.path.normpath(predictions)))
    return [(r["image"], r["label"]) for r in rows if r["faces"] == "0"], rows


def answers(recognizer, paths):
    """Each photo's answer as ``fer-evaluate --images`` takes it, its first face's (None where none is found)."""
    out = []
    for path in paths:
        faces = recognizer.predict(path)
        out.append(faces[0]["label"] if faces else None)
    return out


def time_pair(plain, turned, paths):
    """Per photo, ms without and with the turned looks (alternating), and the false faces found with them."""
    plain.predict(paths[0]), turned.predict(paths[0])  # warm-up
    times, false = [], 0
    for path in paths:
        start = time.perf_counter()
        plain.predict(path)
        middle = time.perf_counter()
        false += len(turned.predict(path))
        times.append(((middle - start) * 1e3, (time.perf_counter() - middle) * 1e3))
    return np.array(times), false


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="the labelled folder the evaluation read")
    p.add_argument("--predictions", required=True, help="the evaluation's output folder, made with --turns none")
    p.add_argument("--arrays", default=None, help="photos.py's eval-arrays folder (photos named by row)")
    p.add_argument("--model", default="fer2013", help="the model the evaluation used (default: %(default)s)")
    p.add_argument("--angles", type=angles, default=(-30.0, 30.0, -45.0, 45.0, -90.0, 90.0),
                   help="each angle tried alone on the photos missed (default: %(default)s)")
    p.add_argument("--turns", type=angles, default=VIDEO.photo_turns,
                   help="the sequence tried in order, as the pipeline does (VIDEO.photo_turns: %(default)s)")
    p.add_argument("--background", default=None, help="a folder of face-free photos: time and false faces")
    p.add_argument("--limit", type=int, default=0, help="face-free photos timed, at most (0: all)")
    args = p.parse_args(argv)

    from fer_toolkit.models.recognizer import Recognizer

    missed, rows = missed_photos(args.predictions)
    paths = [os.path.join(args.images, name) for name, _ in missed]
    labels = np.array([label for _, label in missed])
    arrays = None
    if args.arrays:
        right = arrays_right(*os.path.split(os.path.normpath(args.arrays)))
        arrays = np.array([right[int(os.path.splitext(os.path.basename(name))[0])] for name, _ in missed], bool)
    print(f"{args.images}: {len(rows)} photos, {len(missed)} without a face found"
          + (f" (the arrays get {arrays.sum()} of them right)" if arrays is not None else ""))
    found = {}
    for angle in dict.fromkeys(args.angles + args.turns):
        found[angle] = answers(Recognizer(args.model, turns=(angle,)), paths)
    sequence = [next((found[a][i] for a in args.turns if found[a][i] is not None), None) for i in range(len(paths))]
    for name, got in [(f"{a:+g} alone", found[a]) for a in args.angles] + [(f"{args.turns} in turn", sequence)]:
        got = np.array(got, dtype=object)
        hit = np.array([g is not None for g in got], bool)
        line = f"  {name}: {hit.sum()} found, {(got == labels).sum()} right"
        if arrays is not None:
            line += f" (the arrays {arrays[hit].sum()} of those found)"
        print(line)
    before = sum(r["faces"] not in ("0", "unreadable") and r["predicted"] == r["label"] for r in rows)
    gained = int((np.array(sequence, dtype=object) == labels).sum())
    print(f"  the folder, misses wrong: {before / len(rows):.2%} without the turned looks, "
          f"{(before + gained) / len(rows):.2%} with {args.turns}")
    if args.background:
        from fer_toolkit.features.folders import IMAGE_EXTENSIONS

        files = sorted(f for f in os.listdir(args.background) if f.lower().endswith(IMAGE_EXTENSIONS))
        files = [os.path.join(args.background, f) for f in files][: args.limit or None]
        times, false = time_pair(Recognizer(args.model, turns=()), Recognizer(args.model, turns=args.turns), files)
        plain, turned = np.median(times, axis=0)
        print(f"{args.background}: {len(files)} face-free photos, median {plain:.0f} ms without the turned looks, "
              f"{turned:.0f} ms with {args.turns} ({turned / plain:.2f}x; 90th percentile {np.percentile(times[:, 0], 90):.0f} "
              f"and {np.percentile(times[:, 1], 90):.0f} ms); {false} false faces with them")


if __name__ == "__main__":
    main()
