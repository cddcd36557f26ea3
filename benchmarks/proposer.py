"""Benchmark: BlazeFace proposals confirmed by HOG (``--proposer blazeface``) against the usual photo search.

Writes nothing. Builds 640x480 grey scenes from a split's faces as
``benchmarks/photos.py`` does (each face resized to 64..160 px and pasted
into a cut of scikit-image's face-free photos), with one face or two
(not overlapping), and the same scenes without a face. For the usual search
(``Recognizer``'s photo detector) and for the proposer at each setting it
counts the pasted faces found (a box overlapping the face by IoU > 0.2), the
faces the usual search finds that the proposer's answer lacks ("lost"), the
scenes answered by the proposer alone ("fast path"), faces it reports in the
face-free scenes (where it does not take the fast path the usual search
answers, which finds none there: photos.py), and the median milliseconds a
scene. Choose settings on PublicTest, report on PrivateTest.

    python benchmarks/proposer.py --data data/features --split PublicTest --settings 0.5:0.3,0.5:0.5,0.6:0.2,0.5:0.1,0.3:0.3
    python benchmarks/proposer.py --data data/features --split PrivateTest
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def paste_scenes(faces, n, per_scene, backgrounds, rng):
    """``n`` scenes with ``per_scene`` faces each: (grey image, list of (x, y, side) of the faces)."""
    from photos import scene

    out = []
    for _ in range(n):
        image, placed = scene(backgrounds, rng), []
        for _ in range(per_scene):
            face = faces[rng.integers(len(faces))]
            side = int(rng.integers(64, 161))
            for _ in range(100):  # a place clear of the faces already pasted
                x, y = int(rng.integers(0, 640 - side + 1)), int(rng.integers(0, 480 - side + 1))
                if all(x + side <= px or px + ps <= x or y + side <= py or py + ps <= y for px, py, ps in placed):
                    break
            image[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
            placed.append((x, y, side))
        out.append((image, placed))
    return out


def count_found(boxes, placed):
    """How many pasted faces some box overlaps (IoU > 0.2)."""
    from fer_toolkit.features.faces import box_iou

    return sum(any(box_iou(b, (x, y, s, s)) > 0.2 for b in boxes) for x, y, s in placed)


def timed(fn, *args):
    """``fn(*args)`` and its seconds."""
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def photo_times(n=200):
    """Median ms of ``Recognizer.predict`` on the web benchmark's photo (a 640x480 JPEG's bytes, one face)
    through the usual search and through the proposer, alternating, and of the proposer's two steps."""
    from fer_toolkit.features.faces import confirm_faces, to_gray
    from fer_toolkit.models.proposer import blazeface
    from fer_toolkit.models.recognizer import Recognizer

    from predict import SAMPLES, letterbox

    payload = cv2.imencode(".jpg", letterbox(cv2.imread(os.path.join(SAMPLES, "obama.jpg"))))[1].tobytes()
    recognizers = {"usual": Recognizer(), "proposer": Recognizer(proposer="blazeface")}
    times = {name: [] for name in recognizers}
    for _ in range(n):
        for name, recognizer in recognizers.items():
            faces, seconds = timed(recognizer.predict, payload)
            assert len(faces) == 1
            times[name].append(seconds)
    gray = to_gray(cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR))
    proposals = [box for box, _ in blazeface()(gray)]
    for _ in range(n):
        times.setdefault("blazeface", []).append(timed(blazeface(), gray)[1])
        times.setdefault("confirm", []).append(timed(confirm_faces, gray, proposals)[1])
    return {name: np.median(t) * 1e3 for name, t in times.items()}


def sample_scores(names=("obama.jpg", "two_people.jpg", "lin-manuel-miranda.png"), min_score=0.05):
    """One line per sample photo: BlazeFace's proposals down to ``min_score``, their scores."""
    from fer_toolkit.models.proposer import blazeface

    from predict import SAMPLES

    lines = []
    for name in names:
        gray = cv2.imread(os.path.join(SAMPLES, name), cv2.IMREAD_GRAYSCALE)
        scores = [round(score, 2) for _, score in blazeface()(gray, min_score)]
        lines.append(f"{name}: proposals scoring {min_score} or more: {scores}")
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/features", help="output folder of fer-convert")
    p.add_argument("--split", default="PrivateTest", help="the split whose faces are pasted (choose on PublicTest)")
    p.add_argument("--scenes", type=int, default=400, help="scenes with one face")
    p.add_argument("--pairs", type=int, default=150, help="scenes with two faces")
    p.add_argument("--backgrounds", type=int, default=200, help="scenes without a face")
    p.add_argument("--settings", default="0.6:0.2",
                   help="comma-separated proposer settings score:min_score (VIDEO.proposer_score, proposer_min_score)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    from fer_toolkit.features.io import load_arrays
    from fer_toolkit.models.proposer import blazeface, propose_faces
    from fer_toolkit.models.recognizer import Recognizer

    from photos import background_images, scene

    faces = load_arrays(args.data, args.split)["images"]
    rng = np.random.default_rng(args.seed)
    backgrounds = background_images()
    sets = {"one face": paste_scenes(faces, args.scenes, 1, backgrounds, rng),
            "two faces": paste_scenes(faces, args.pairs, 2, backgrounds, rng),
            "no face": [(scene(backgrounds, rng), []) for _ in range(args.backgrounds)]}
    recognizer = Recognizer()
    proposer = blazeface()
    settings = [tuple(float(v) for v in s.split(":")) for s in args.settings.split(",")]
    print(f"machine: {os.cpu_count()} cores")
    times = photo_times()
    print(f"Recognizer.predict of the web benchmark's 640x480 JPEG (one face): usual search "
          f"{times['usual']:.2f} ms, proposer {times['proposer']:.2f} ms (medians of 200, alternating); "
          f"of which BlazeFace {times['blazeface']:.2f} ms, HOG's confirmation {times['confirm']:.2f} ms")
    for line in sample_scores():
        print(line)
    print(f"{args.split} faces pasted into 640x480 scenes (seed {args.seed})")
    print("| scenes | search | faces found | lost against the usual search | fast path | faces reported "
          "| median ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, scenes in sets.items():
        if not scenes:
            continue
        n_faces = sum(len(placed) for _, placed in scenes)
        usual = [] if name == "no face" else [timed(recognizer._detect, image) for image, _ in scenes]
        if usual:
            found = sum(count_found(boxes, placed) for (boxes, _), (_, placed) in zip(usual, scenes))
            print(f"| {name} ({len(scenes)}) | usual | {found} of {n_faces} | - | - | "
                  f"{sum(len(b) for b, _ in usual)} | {np.median([t for _, t in usual]) * 1e3:.1f} |", flush=True)
        for score, min_score in settings:
            found = lost = fast = reported = 0
            times = []
            for i, (image, placed) in enumerate(scenes):
                boxes, seconds = timed(propose_faces, image, proposer, score, min_score)
                if boxes:
                    fast += 1
                elif usual:
                    boxes, more = usual[i]
                    seconds += more
                else:  # a face-free scene the proposer leaves to the usual search, which finds nothing there
                    seconds = float("nan")
                reported += len(boxes)
                found += count_found(boxes, placed)
                lost += max(0, count_found(usual[i][0], placed) - count_found(boxes, placed)) if usual else 0
                times.append(seconds)
            median = f"{np.median(times) * 1e3:.1f}" if usual else "-"
            print(f"| {name} ({len(scenes)}) | proposer {score:g}:{min_score:g} | "
                  f"{found if usual else '-'}{f' of {n_faces}' if usual else ''} | {lost if usual else '-'} | "
                  f"{fast / len(scenes):.1%} | {reported} | {median} |", flush=True)


if __name__ == "__main__":
    main()
