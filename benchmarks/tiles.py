"""Faces in a tile: each face found cut with and without the tile look, on the boxes already found.

The tile look (:func:`features.faces.tile_square`, ``VIDEO.tile``) changes only how a face
found is cut, not which faces are found, so this script takes the boxes that an evaluation
found (its ``predictions.csv``, written by ``fer-evaluate --images``), cuts each face from
them once with the look and once without (:meth:`models.recognizer.Recognizer.locate` with
the box given: the same re-framing as the search; an image the face-crop rule takes whole
stays whole) and classifies both crops. It prints one line: faces found, faces whose square
the look changes, the look's median time, and the accuracy on the faces found without and
with it; with ``--arrays`` (``benchmarks/photos.py``'s ``eval-arrays``, whose photos are
named after their row in the split), the arrays' accuracy on the same faces. ``--share`` and
``--fit`` try other settings than ``parameters.py``'s.

    python benchmarks/photos.py --data ~/fer-data/fer2013 --out /tmp/fer-photos --folders scene640
    python benchmarks/tiles.py --images /tmp/fer-photos/scene640 --predictions /tmp/fer-photos/eval-scene640 \\
        --arrays /tmp/fer-photos/eval-arrays
    fer-evaluate --images ../shared/photos/muxspace --out /tmp/mux
    python benchmarks/tiles.py --images ../shared/photos/muxspace --predictions /tmp/mux
"""

import argparse
import csv
import os
import sys
import time

import numpy as np

from fer_toolkit.parameters import VIDEO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from photos import arrays_right, read_predictions  # noqa: E402


def evaluation(folder):
    """The rows of the ``predictions.csv`` in an evaluation's output folder (:func:`photos.read_predictions`)."""
    return read_predictions(*os.path.split(os.path.normpath(folder)))


def found_faces(predictions):
    """The rows of an evaluation's ``predictions.csv`` with a face found: (image, label, box)."""
    return [(r["image"], r["label"], tuple(int(r[k]) for k in ("x", "y", "width", "height")))
            for r in evaluation(predictions) if r["faces"] not in ("0", "unreadable")]


def cut_both(recognizer, path, box, fit=VIDEO.tile_fit, share=VIDEO.tile_share):
    """A face's square and crop as ``recognizer`` (made with ``tile=False``) cuts it from its box,
    and the square the tile look makes of it (the square itself where no tile frames the face),
    with the look's time in ms."""
    from fer_toolkit.features.faces import crop_squares, tile_square, to_gray

    decoded = recognizer.decode(path, grey=True)
    gray = to_gray(decoded.array)
    if recognizer._face_crop(gray):  # taken whole, as the search takes it: no tile look
        x0, y0, side, _ = recognizer._whole_box(gray)
        crop = recognizer.spec.crop_whole(gray)[0]
        return (x0, y0, side), crop, (x0, y0, side), crop, 0.0
    _, (square,), crops = recognizer.locate(gray, boxes=[tuple(v / decoded.scale for v in box)])
    start = time.perf_counter()
    tiled = tile_square(gray, square, share=share, fit=fit)
    ms = (time.perf_counter() - start) * 1e3
    tiled_crop = crops[0] if tiled == square else \
        crop_squares(gray, [tiled], recognizer.spec.image_size, recognizer.spec.crop_fit)[0]
    return square, crops[0], tiled, tiled_crop, ms


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="the labelled folder the evaluation read")
    p.add_argument("--predictions", required=True, help="the evaluation's output folder (its predictions.csv)")
    p.add_argument("--arrays", default=None,
                   help="photos.py's eval-arrays folder: the arrays' answers on the same faces (files named by row)")
    p.add_argument("--model", default="fer2013", help="the model the evaluation used (default: %(default)s)")
    p.add_argument("--limit", type=int, default=0, help="first N faces found only (0: all)")
    p.add_argument("--fit", action=argparse.BooleanOptionalAction, default=VIDEO.tile_fit,
                   help="a tile not taken whole holds the square, shrunk to fit (VIDEO.tile_fit: %(default)s)")
    p.add_argument("--share", type=float, default=VIDEO.tile_share,
                   help="smallest score of each of a tile's four edges (VIDEO.tile_share: %(default)s)")
    p.add_argument("--csv", default=None, help="write each face's squares and answers to this CSV file")
    args = p.parse_args(argv)

    from tqdm import tqdm

    from fer_toolkit.models.recognizer import Recognizer

    recognizer = Recognizer(args.model, tile=False)
    faces = found_faces(args.predictions)[: args.limit or None]
    plain_crops, tiled_crops, in_tile, labels, names, times, squares = [], [], [], [], [], [], []
    for name, label, box in tqdm(faces, unit="face", file=sys.stderr):
        plain, plain_crop, tiled, tiled_crop, ms = cut_both(recognizer, os.path.join(args.images, name), box, args.fit,
                                                              args.share)
        squares.append((plain, tiled))
        plain_crops.append(plain_crop)
        tiled_crops.append(tiled_crop)
        in_tile.append(tiled != plain)
        labels.append(label)
        names.append(name)
        times.append(ms)
    classes = np.array(recognizer.classes)
    right = {}
    for key, crops in (("without", plain_crops), ("with", tiled_crops)):
        probabilities, _ = recognizer.predict_crops(np.array(crops))
        right[key] = classes[probabilities.argmax(axis=1)] == np.array(labels)
    tiled = np.array(in_tile, dtype=bool)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["image", "label", "square", "tile_square", "right_without", "right_with"])
            for row in zip(names, labels, *zip(*squares), right["without"], right["with"]):
                out.writerow([row[0], row[1], " ".join(f"{v:.1f}" for v in row[2]),
                              " ".join(f"{v:.1f}" for v in row[3]), int(row[4]), int(row[5])])
    line = (f"{args.images}: {len(faces)} faces found, {tiled.sum()} in a tile (the look: median "
            f"{np.median([t for t in times if t]):.2f} ms a face cut from a box); on all found: without the look "
            f"{right['without'].mean():.2%}, with it {right['with'].mean():.2%}; on those in a tile: "
            f"{right['without'][tiled].sum()} right without, {right['with'][tiled].sum()} with")
    if args.arrays:
        arrays = arrays_right(*os.path.split(os.path.normpath(args.arrays)))
        a = np.array([arrays[int(os.path.splitext(os.path.basename(name))[0])] for name in names])
        line += f" (the arrays {a[tiled].sum()}); the arrays on all found {a.mean():.2%}"
    print(line)
    changed = [f"{name}" for name, t in zip(names, tiled) if t][:20]
    if changed:
        print("faces in a tile (first 20):", ", ".join(changed))


if __name__ == "__main__":
    main()
