"""Screen: YuNet's candidates confirmed by the CNN, against the slower looks, as the photo search's last look.

PublicTest faces (never PrivateTest: this chooses ``VIDEO.yunet_*``) pasted at
64 to 160 px into 640x480 face-free scenes (``photos.py``'s scene maker, seed
5), and face-free scenes. A scene reaches the last look where neither HOG's
first look nor MTCNN (the group look alone) finds any face. For those, and for
the face-free scenes, the script runs the slower looks (``last_look="slow"``)
and YuNet once, then has the CNN check each of YuNet's boxes scoring at least
0.2, and prints, for each setting of how many boxes the CNN checks (best
first) and the lowest score it checks: the scene faces found in all, false
faces in the face-free scenes, and the median, 90th percentile and mean
milliseconds of the last look on the face-free scenes (YuNet plus its checks;
the slower looks' own time on the same scenes beside it). Then the doubtful
answers (``VIDEO.yunet_doubt_score``): YuNet's two boxes from 0.2 checked by
the CNN, and where it confirms none, the slower looks run if YuNet's best box
scores at least a threshold (at 640, and also YuNet on the photo enlarged to
960).

    python benchmarks/last_look.py --data ~/fer-data/fer2013 --limit 500 --free 200
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def last_look_rows(gray, truth):
    """What each last look does with one photo that reaches it: the slower looks' hit and seconds, YuNet's
    seconds, for each YuNet box scoring at least 0.2, best first: its score, whether the CNN confirms a
    face there, whether that face is ``truth`` (None: a face-free photo) and the CNN's seconds;
    YuNet's best score (0 without a box); and YuNet's best score and seconds on the photo enlarged to 960."""
    from fer_toolkit.features import faces, yunet
    from fer_toolkit.models.recognizer import proposed_candidates
    from fer_toolkit.parameters import VIDEO

    def hit(boxes):
        return any(faces.box_iou(b, truth) > 0.3 for b in boxes) if truth else bool(boxes)

    started = time.perf_counter()
    slow = faces._detect(gray, "dlib+cnn", 0, VIDEO.detect_max_side, VIDEO.detect_min_side, VIDEO.cnn_max_side, False,
                         proposed_candidates, last_look="slow")  # as Recognizer searches, BlazeFace's candidates included
    slow_seconds = time.perf_counter() - started
    started = time.perf_counter()
    scaled, factor = faces._resized(gray, 640, 0)
    found = yunet.detect(scaled)
    yunet_seconds = time.perf_counter() - started
    checks = []
    for (x, y, w, h), score in found:
        if score < 0.2:
            break
        box = (x / factor, y / factor, w / factor, h / factor)
        started = time.perf_counter()
        by_hog = faces._search_around(gray, box, "dlib", 0, VIDEO.refine_side, VIDEO.refine_margin)
        hog_seconds = time.perf_counter() - started
        confirmed = faces._confirmed_by_cnn(gray, [box])
        checks.append((score, bool(confirmed), hit(confirmed), time.perf_counter() - started - hog_seconds,
                       by_hog is not None, by_hog is not None and hit([by_hog]), hog_seconds))
    started = time.perf_counter()
    k = 960 / max(gray.shape)
    larger = yunet.detect(cv2.resize(gray, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR))
    larger_seconds = time.perf_counter() - started
    return (hit(slow), slow_seconds, yunet_seconds, checks, found[0][1] if found else 0.0,
            larger[0][1] if larger else 0.0, larger_seconds)


def doubt_row(reaching, free, found_before, n, lowest, larger=None):
    """One row of the doubtful-answer tables: YuNet's two boxes from 0.2 checked by the CNN; where it
    confirms none, the slower looks run if YuNet's best box scores at least ``lowest`` (or, with
    ``larger``, YuNet on the photo enlarged to 960, run where it scores under ``lowest``, at least that)."""
    def outcome(row, face):  # face: 2 (the truth) or 1 (any face)
        chosen = [c for c in row[3] if c[0] >= 0.2][:2]
        confirmed = any(c[1] for c in chosen)
        enlarged = larger is not None and row[4] < lowest
        fallback = not confirmed and (row[4] >= lowest or (enlarged and row[5] >= larger))
        seconds = row[2] + sum(c[3] for c in chosen) + (row[6] if enlarged else 0) + (row[1] if fallback else 0)
        return any(c[face] for c in chosen) or (fallback and row[0]), fallback, seconds

    found = found_before + sum(outcome(r, 2)[0] for r in reaching)
    false = sum(outcome(r, 1)[0] for r in free)
    running = sum(outcome(r, 1)[1] for r in free)
    ms = np.array([outcome(r, 1)[2] for r in free]) * 1000
    return (f"{found / n:.1%} | {false} | {running} | {np.median(ms):.0f} | {np.percentile(ms, 90):.0f} | "
            f"{ms.mean():.0f} |")


def first_looks(gray):
    """The faces of the looks before the last: HOG's first look, and MTCNN beside its faces (or alone
    where it finds none), as the group look adds them. A photo without any reaches the last look."""
    from fer_toolkit.features import faces
    from fer_toolkit.models.mtcnn import more_faces

    boxes = faces._rects(gray, "dlib", 0, 1280, 160)
    return boxes + list(more_faces(gray, boxes))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/features", help="output folder of fer-convert (PublicTest is read)")
    p.add_argument("--limit", type=int, default=500, help="first N PublicTest faces")
    p.add_argument("--free", type=int, default=200, help="face-free scenes")
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args(argv)

    from photos import background_images, scene
    from scene_stages import pasted_scenes

    from fer_toolkit.features import faces
    from fer_toolkit.features.io import load_arrays

    images = load_arrays(args.data, "PublicTest", limit=args.limit)["images"]
    backgrounds, rng = background_images(), np.random.default_rng(args.seed)
    found_before, reaching = 0, []
    for image, truth in pasted_scenes(images, backgrounds, rng):
        boxes = first_looks(image)
        if boxes:
            found_before += any(faces.box_iou(b, truth) > 0.3 for b in boxes)
        else:
            reaching.append(last_look_rows(image, truth))
    free = [last_look_rows(g, None) for g in (scene(backgrounds, rng) for _ in range(args.free)) if not first_looks(g)]
    n = len(images)
    print(f"{n} PublicTest faces in 640x480 scenes: {found_before} found by HOG's first look or MTCNN, "
          f"{len(reaching)} reach the last look; {len(free)} of {args.free} face-free scenes reach it")
    slow_found = sum(r[0] for r in reaching)
    slow_false = sum(r[0] for r in free)
    print(f"slower looks: {found_before + slow_found} found ({(found_before + slow_found) / n:.1%}), "
          f"face-free scenes with a face {slow_false}; face-free ms median {np.median([r[1] for r in free]) * 1000:.0f} "
          f"p90 {np.percentile([r[1] for r in free], 90) * 1000:.0f}")
    print(f"YuNet alone: median {np.median([r[2] for r in free]) * 1000:.1f} ms a face-free scene")
    print("| boxes checked | lowest score | checked by | faces found | face-free scenes with a face | "
          "face-free ms: median | p90 | mean |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for checks in (1, 2, 3, 5):
        for lowest in (0.2, 0.3, 0.4):
            for by in ("CNN", "HOG, then CNN"):
                def chosen(row):
                    return [c for c in row[3] if c[0] >= lowest][:checks]

                def found_here(c, face):  # face: 2 (the truth) or 1 (any face); the CNN runs where HOG finds none
                    return c[3 + face] if by != "CNN" and c[4] else c[face]

                def cost(c):
                    return (c[6] if by != "CNN" else 0) + (c[3] if by == "CNN" or not c[4] else 0)

                found = found_before + sum(any(found_here(c, 2) for c in chosen(r)) for r in reaching)
                false = sum(any(found_here(c, 1) for c in chosen(r)) for r in free)
                ms = np.array([r[2] + sum(cost(c) for c in chosen(r)) for r in free]) * 1000
                print(f"| {checks} | {lowest} | {by} | {found / n:.1%} | {false} | {np.median(ms):.0f} | "
                      f"{np.percentile(ms, 90):.0f} | {ms.mean():.0f} |")

    print()
    print("YuNet first (2 boxes from 0.2, checked by the CNN); where it confirms none, the slower looks "
          "run if YuNet's best box scores at least:")
    print("| slower looks from | faces found | face-free scenes with a face | face-free scenes running them | "
          "face-free ms: median | p90 | mean |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for lowest in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 1.01):
        print(f"| {lowest} | " + doubt_row(reaching, free, found_before, n, lowest))
    print()
    print("As above, the slower looks also running where YuNet at 640 scores under its threshold and YuNet on "
          "the photo enlarged to 960 scores at least the second:")
    print("| at 640 | at 960 | faces found | face-free scenes with a face | face-free scenes running them | "
          "face-free ms: median | p90 | mean |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for lowest in (0.3, 0.4, 0.5):
        for larger in (0.3, 0.4, 0.5, 0.6, 0.7, 1.01):
            print(f"| {lowest} | {larger} | " + doubt_row(reaching, free, found_before, n, lowest, larger))
    missed = [r for r in reaching if r[0] and not any(c[2] for c in r[3] if c[0] >= 0.2)]
    print("YuNet's best score (at 640 / 960) where the slower looks find the face and YuNet's check does not:",
          " ".join(f"{r[4]:.2f}/{r[5]:.2f}" for r in sorted(missed, key=lambda r: -r[4])))
    for at, column in ((640, 4), (960, 5)):
        print(f"YuNet's best score at {at} on the face-free scenes, deciles:",
              " ".join(f"{q:.2f}" for q in np.percentile([r[column] for r in free], range(10, 100, 10))))
    print(f"YuNet at 960: median {np.median([r[6] for r in free]) * 1000:.1f} ms a face-free scene")


if __name__ == "__main__":
    sys.exit(main())
