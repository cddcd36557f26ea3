"""Screen: second looks for the small faces of group photos, after HOG's first look.

The photo search stops at the first look that finds a face, so in a group
photo the faces under HOG's smallest window (about 80 px) are lost beside a
larger one (``benchmarks/photos.py --groups``). This screens cheap second looks
that could run after HOG has found a face, on group scenes built from
PublicTest faces (never PrivateTest: this screens settings) as ``photos.py``
builds them, and on face-free scenes:

- ``blazeface T``: BlazeFace's proposals scoring at least T that no HOG face
  overlaps, each confirmed by HOG around itself as the proposer confirms
  (``features.faces.confirm_faces``' geometry);
- ``haar N``: OpenCV's Haar cascade (minNeighbors N, faces from 30 px), each
  box confirmed by HOG the same way, and the cascade's boxes taken alone;
- ``hog xK``: HOG again on the photo enlarged so that faces down to 0.4 times
  the largest found one reach its window (at most K times), plus its best
  near misses confirmed by HOG around themselves.

A face counts as found when a box overlaps its square by an IoU of 0.3 (one
box per face); other boxes are false faces. Times are medians per photo of the
first look and the second together (no classifier).

    python benchmarks/group_looks.py --data data/features --groups 150 --free 100
"""

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def score(scenes, look):
    """Faces found, false faces and the median milliseconds of HOG then ``look`` over group scenes."""
    from fer_toolkit.features.faces import _rects, box_iou

    def find(image):
        boxes = _rects(image, "dlib", 0, 0, 0)
        if boxes:
            for box in look(image, boxes):
                if all(box_iou(box, kept) <= 0.3 for kept in boxes):
                    boxes.append(box)
        return boxes

    return count(scenes, find)


def count(scenes, find):
    """Faces found, false faces and the median milliseconds of ``find(image)`` (boxes) over group scenes."""
    from fer_toolkit.features.faces import box_iou

    total = found = false = 0
    times = []
    for image, placed in scenes:
        started = time.perf_counter()
        boxes = find(image)
        times.append((time.perf_counter() - started) * 1000)
        unused = list(range(len(boxes)))
        for x, y, side, _ in placed:
            total += 1
            best = max(unused, key=lambda i: box_iou(boxes[i], (x, y, side, side)), default=None)
            if best is not None and box_iou(boxes[best], (x, y, side, side)) >= 0.3:
                unused.remove(best)
                found += 1
        false += len(unused)
    return found / total, false, statistics.median(times)


def confirmed(image, candidates):
    """The candidates that HOG finds a face around (as the proposer confirms its proposals)."""
    from fer_toolkit.features.faces import _search_around
    from fer_toolkit.parameters import VIDEO

    out = []
    for box in candidates:
        found = _search_around(image, box, "dlib", 0, VIDEO.refine_side, VIDEO.refine_margin)
        if found is not None:
            out.append(found)
    return out


def blazeface_look(threshold):
    from fer_toolkit.models.proposer import blazeface

    return lambda image, boxes: confirmed(image, [b for b, _ in blazeface()(image, threshold)])


def haar_boxes(image, neighbours):
    from fer_toolkit.features.faces import _haar_detector

    return [tuple(float(v) for v in b) for b in
            _haar_detector().detectMultiScale(image, scaleFactor=1.1, minNeighbors=neighbours, minSize=(30, 30))]


def enlarged_hog_look(most, near_misses=4, smallest=0.4):
    """HOG on the photo enlarged so that a face ``smallest`` times the largest found reaches its window."""
    from fer_toolkit.features.faces import _dlib_detector

    def look(image, boxes):
        k = min(most, 80 / (smallest * max(b[2] for b in boxes)))
        if k <= 1.05:
            return []
        scaled = cv2.resize(image, (round(image.shape[1] * k), round(image.shape[0] * k)), interpolation=cv2.INTER_LINEAR)
        found, scores, _ = _dlib_detector().run(scaled, 0, -0.8)
        windows = [((r.left() / k, r.top() / k, r.width() / k, r.height() / k), s) for r, s in zip(found, scores)]
        near = sorted((w for w in windows if w[1] < 0), key=lambda w: -w[1])[:near_misses]
        return [b for b, s in windows if s >= 0] + confirmed(image, [b for b, _ in near])

    return look


def mtcnn_detector(threshold):
    """MTCNN as ``more_faces``' detector, its O-Net score above ``threshold`` (P-Net's and R-Net's the defaults)."""
    from fer_toolkit.models.mtcnn import mtcnn
    from fer_toolkit.parameters import VIDEO

    def detector(gray, min_face, max_face):
        return mtcnn()(gray, min_face, max_face, (VIDEO.mtcnn_pnet_score, VIDEO.mtcnn_rnet_score, threshold))

    return detector


def mtcnn_look(threshold):
    """MTCNN's faces (O-Net score above ``threshold``) beside HOG's, as the photo search's group look adds them."""
    from fer_toolkit.models.mtcnn import more_faces

    return lambda image, boxes: more_faces(image, boxes, mtcnn_detector(threshold))


def search_rows(scenes):
    """The whole photo search (``dlib+cnn``, BlazeFace's candidates) with the group look at several
    settings, one table row each, then MTCNN alone at the defaults (the look's own time)."""
    from fer_toolkit.features.faces import detect_faces
    from fer_toolkit.models.mtcnn import look_beside, more_faces, mtcnn
    from fer_toolkit.models.recognizer import proposed_candidates
    from fer_toolkit.parameters import VIDEO

    print("| smallest face | largest face | O-Net above | faces found | false faces | median ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for min_ratio, max_ratio, threshold in ((0.0, 1.0, 0.8), (0.0, 1.0, 0.9), (0.25, 1.0, 0.8), (0.25, 1.5, 0.8)):
        def more(gray, found, detector=mtcnn_detector(threshold), min_ratio=min_ratio, max_ratio=max_ratio):
            return more_faces(gray, found, detector, min_ratio, max_ratio)

        share, false, ms = count(scenes, lambda image: detect_faces(image, "dlib+cnn", propose=proposed_candidates,
                                                                    more=more))
        smallest = f"{min_ratio} x the largest found, at least {VIDEO.group_min_face} px" if min_ratio else \
            f"{VIDEO.group_min_face} px"
        print(f"| {smallest} | {max_ratio} x the largest found | {threshold} | {share:.1%} | {false} | {ms:.0f} |",
              flush=True)
    with ThreadPoolExecutor(1) as pool:  # the default path: MTCNN started beside HOG's search (Recognizer._detect)
        def beside(image):
            more, _ = look_beside(image, pool.submit)
            return detect_faces(image, "dlib+cnn", propose=proposed_candidates, more=more)

        share, false, ms = count(scenes, beside)
    print(f"| {VIDEO.group_min_ratio} x the largest found, at least {VIDEO.group_min_face} px, MTCNN beside HOG "
          f"(the default) | {VIDEO.group_max_ratio} x the largest found | {VIDEO.mtcnn_onet_score} | {share:.1%} | "
          f"{false} | {ms:.0f} |", flush=True)
    times = []
    for image, placed in scenes:
        largest = max(side for _, _, side, _ in placed)
        started = time.perf_counter()
        mtcnn()(image, max(VIDEO.group_min_face, VIDEO.group_min_ratio * largest), VIDEO.group_max_ratio * largest)
        times.append((time.perf_counter() - started) * 1000)
    print(f"MTCNN alone ({mtcnn().backend}, {mtcnn().threads} threads), faces from {VIDEO.group_min_ratio} to "
          f"{VIDEO.group_max_ratio} times the scene's largest: median {statistics.median(times):.0f} ms a photo")


def against_package(scenes):
    """This package's MTCNN against the ``mtcnn`` package's (``pip install mtcnn lz4``, not a dependency),
    both looking for faces from 20 px with O-Net above 0.9: boxes matched and the median time each."""
    from mtcnn import MTCNN as PackageMTCNN

    from fer_toolkit.features.faces import box_iou
    from fer_toolkit.models.mtcnn import mtcnn

    package = PackageMTCNN()
    ours, theirs, overlaps, times_ours, times_theirs = 0, 0, [], [], []
    for image, _ in scenes:
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        started = time.perf_counter()
        mine = [box for box, _ in mtcnn()(image, 20, 0, (0.6, 0.7, 0.9))]
        times_ours.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        other = [face["box"] for face in package.detect_faces(rgb, threshold_onet=0.9)]
        times_theirs.append((time.perf_counter() - started) * 1000)
        ours, theirs = ours + len(mine), theirs + len(other)
        overlaps += [max((box_iou(tuple(b), m) for m in mine), default=0.0) for b in other]
    overlaps = np.asarray(overlaps)
    print(f"{len(scenes)} scenes: the package's {theirs} faces, ours {ours}; of the package's, "
          f"{np.mean(overlaps > 0.5):.1%} overlap one of ours by IoU > 0.5 (median IoU {np.median(overlaps):.2f}); "
          f"median ms a photo: ours "
          f"{statistics.median(times_ours):.0f}, the package's {statistics.median(times_theirs):.0f}")


def calibrate(scenes, name="group scenes"):
    """How MTCNN frames a face against HOG, on faces both find once (``VIDEO.mtcnn_box_*``): the median
    ratio of HOG's side to MTCNN's longer side, and HOG's centre offset in MTCNN box sides."""
    from fer_toolkit.features.faces import _rects, box_iou
    from fer_toolkit.models.mtcnn import mtcnn

    rows = []
    for image, _ in scenes:
        for hx, hy, hs, _ in _rects(image, "dlib", 0, 0, 0):
            matches = [b for b, _ in mtcnn()(image, 24) if box_iou(b, (hx, hy, hs, hs)) > 0.3]
            if len(matches) == 1:
                x, y, w, h = matches[0]
                side = max(w, h)
                rows.append((hs / side, (hx + hs / 2 - x - w / 2) / side, (hy + hs / 2 - y - h / 2) / side))
    if not rows:
        print(f"{name}: no face found once by both")
        return
    scale, dx, dy = np.median(np.asarray(rows), axis=0)
    print(f"{name}: {len(rows)} faces found once by both: mtcnn_box_scale {scale:.3f}, "
          f"mtcnn_box_shift_x {dx:.3f}, mtcnn_box_shift_y {dy:.3f}", flush=True)


def real_photos(paths, longest):
    """Real photographs (files, or folders searched recursively) in grey, resized so that their longer side is
    ``longest`` px, as ``(image, None)`` pairs for :func:`calibrate`; unreadable files are skipped."""
    from fer_toolkit.features.images import decode_image

    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(os.path.join(d, f) for d, _, names in os.walk(path) for f in names)
        else:
            files.append(path)
    photos = []
    for path in files:
        try:
            image = decode_image(path, grey=True).array
        except Exception:  # not an image, or refused: a benchmark skips it
            continue
        scale = longest / max(image.shape[:2])
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        photos.append((cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR),
                       None))
    return photos


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/features", help="output folder of fer-convert (PublicTest is read)")
    p.add_argument("--groups", type=int, default=150, help="group scenes (2 to 6 faces of 40 to 96 px)")
    p.add_argument("--free", type=int, default=100, help="face-free scenes, for the false faces of the looks alone")
    p.add_argument("--calibrate", action="store_true",
                   help="instead: measure how MTCNN's boxes map to HOG's (VIDEO.mtcnn_box_*) on the group scenes")
    p.add_argument("--calibrate-photos", nargs="+", metavar="PATH",
                   help="instead: --calibrate on real photographs (files or folders), each resized to a longer "
                        "side of --photo-sides px")
    p.add_argument("--photo-sides", default="320,480,640,960",
                   help="--calibrate-photos: the longer sides (px) the photos are measured at, comma-separated")
    p.add_argument("--mtcnn-only", action="store_true", help="only the rows of MTCNN's look (at several thresholds)")
    p.add_argument("--search", action="store_true",
                   help="instead: the whole photo search with the group look at several settings (how the "
                        "defaults VIDEO.group_* and mtcnn_onet_score were chosen), and MTCNN's own time")
    p.add_argument("--against-package", type=int, default=0, metavar="N",
                   help="instead: this package's MTCNN against the mtcnn package's on the first N scenes "
                        "(needs pip install mtcnn lz4, which the toolkit does not)")
    args = p.parse_args(argv)
    if args.calibrate_photos:
        for side in (int(v) for v in args.photo_sides.split(",")):
            calibrate(real_photos(args.calibrate_photos, side), f"real photos at {side} px")
        return 0

    from photos import background_images, group_scenes, scene

    from fer_toolkit.features.io import load_arrays

    arrays = load_arrays(args.data, "PublicTest", limit=1000)
    scenes = group_scenes(arrays["images"], arrays["labels"], args.groups)
    if args.calibrate:
        calibrate(scenes)
        return 0
    if args.search:
        search_rows(scenes)
        return 0
    if args.against_package:
        against_package(scenes[: args.against_package])
        return 0
    rng = np.random.default_rng(7)
    backgrounds = background_images()
    free = [scene(backgrounds, rng) for _ in range(args.free)]
    looks = [("HOG alone (today's default)", lambda image, boxes: [], None)]
    looks += [(f"blazeface {t}", blazeface_look(t), blazeface_look(t)) for t in (0.01, 0.05, 0.2)]
    looks += [(f"haar {n}, confirmed by HOG", (lambda n: lambda image, boxes: confirmed(image, haar_boxes(image, n)))(n),
               (lambda n: lambda image, boxes: confirmed(image, haar_boxes(image, n)))(n)) for n in (3, 5)]
    looks += [(f"haar {n} alone", (lambda n: lambda image, boxes: haar_boxes(image, n))(n),
               (lambda n: lambda image, boxes: haar_boxes(image, n))(n)) for n in (5, 12)]
    looks += [(f"hog x{k} (faces to 0.4 of the largest) + 4 near misses", enlarged_hog_look(k), None) for k in (2.0, 2.5)]
    mtcnn_looks = [(f"MTCNN (O-Net > {t})", mtcnn_look(t), None) for t in (0.8, 0.9, 0.95)]
    looks = mtcnn_looks if args.mtcnn_only else looks + mtcnn_looks
    total = sum(len(placed) for _, placed in scenes)
    print(f"{len(scenes)} group scenes, {total} PublicTest faces; {len(free)} face-free scenes")
    print("| second look | faces found | false faces (groups) | face-free scenes with a face (the look alone) | "
          "median ms / photo |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, look, alone in looks:
        share, false, ms = score(scenes, look)
        free_hits = f"{np.mean([bool(alone(im, [])) for im in free]):.0%}" if alone else "-"
        print(f"| {name} | {share:.1%} | {false} | {free_hits} | {ms:.0f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
