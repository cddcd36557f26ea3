"""Which look of the photo detector (``dlib+cnn``) first finds each face of a scene.

PublicTest faces (never PrivateTest: this screens settings) are pasted at 64 to
160 px into 640x480 face-free scenes, as ``benchmarks/photos.py`` builds them
(seed 5), and each face is credited to the first look whose boxes overlap it
(IoU above 0.3): HOG, HOG upsampled once, the CNN around HOG's near misses and
BlazeFace's candidates, the CNN over the whole photo; ``other`` when a look
finds a face elsewhere but not this one (the search stops there), ``missed``
when none does. Also printed: the median time of the looks before the CNN over
the whole photo, on the photos that reach it (what a face-free photo costs
without that last look).

    python benchmarks/scene_stages.py --data data/features --limit 500 [--gate 200] [--ranks]
    python benchmarks/scene_stages.py --data data/features --limit 600 --accuracy fer2013,RUN_FOLDER

``--accuracy`` also tables the found faces by the square the pipeline finally
cut them from (re-framed from their landmarks) over the pasted square.
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def gate_signals(gray):
    """What a gate before the CNN over the whole photo could read at no extra cost: BlazeFace's best
    score anywhere in the photo (0 without a proposal) and the number of HOG's near misses."""
    from fer_toolkit.features import faces
    from fer_toolkit.models.proposer import blazeface

    proposals = blazeface()(gray, 0.01)
    _, near = faces._hog_near_misses(gray, 1, 1280, 160)
    return (proposals[0][1] if proposals else 0.0), len(near)


def candidate_ranks(gray, truth):
    """Where the face of a photo that reaches the CNN over the whole photo stands among the cheaper
    looks' candidates: its rank among upsampled HOG's windows down to a score of -2 and among
    BlazeFace's proposals down to 0.003 (None: not among them), with their scores and counts."""
    from fer_toolkit.features import faces
    from fer_toolkit.models.proposer import blazeface

    found, scores, _ = faces._dlib_detector().run(gray, 1, -2.0)
    windows = sorted((((r.left(), r.top(), r.width(), r.height()), s) for r, s in zip(found, scores)),
                     key=lambda w: -w[1])
    proposals = blazeface()(gray, 0.003)
    hog = next(((k, s) for k, (b, s) in enumerate(windows) if faces.box_iou(b, truth) > 0.3), (None, None))
    blaze = next(((k, s) for k, (b, s) in enumerate(proposals) if faces.box_iou(b, truth) > 0.2), (None, None))
    return hog, len(windows), blaze, len(proposals)


def first_look(gray, truth, propose):
    """The name of the first look of ``dlib+cnn`` whose boxes overlap ``truth``, and the seconds spent
    before the CNN over the whole photo (None where an earlier look found a face)."""
    from fer_toolkit.features import faces

    def hit(rects):
        return any(faces.box_iou(r, truth) > 0.3 for r in rects)

    started = time.perf_counter()
    rects = faces._rects(gray, "dlib", 0, 1280, 160)
    if rects:
        return ("hog" if hit(rects) else "other"), None
    rects, near = faces._hog_near_misses(gray, 1, 1280, 160)
    if rects:
        return ("hog upsampled" if hit(rects) else "other"), None
    rects = faces._confirmed_by_cnn(gray, near + list(propose(gray)))
    if rects:
        return ("cnn around candidates" if hit(rects) else "other"), None
    before = time.perf_counter() - started
    rects = faces._rects(gray, "cnn", 0, 640, 160)
    return ("cnn over the photo" if hit(rects) else ("other" if rects else "missed")), before


def pasted_scenes(images, backgrounds, rng):
    """Each face pasted at 64 to 160 px into a 640x480 scene cut from ``backgrounds`` (photos.py's
    scene maker): yields ``(scene, (x, y, side, side))``, drawing from ``rng`` as it goes."""
    from photos import scene

    for face in images:
        image = scene(backgrounds, rng).copy()
        side = int(rng.integers(64, 161))
        y, x = int(rng.integers(0, 480 - side + 1)), int(rng.integers(0, 640 - side + 1))
        image[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        yield image, (x, y, side, side)


def face_at(recognizer, image, truth):
    """The first face ``recognizer.predict`` reports over the pasted square ``truth`` (IoU above 0.3), or None."""
    from fer_toolkit.features import faces

    return next((f for f in recognizer.predict(image) if faces.box_iou(f["box"], truth) > 0.3), None)


def accuracy_on_found(model, images, labels, seed):
    """One line: a model's faces found in the scenes, its accuracy on them through the photo pipeline,
    and its accuracy on the same faces' arrays (what the framing of a found face costs)."""
    from photos import background_images

    from fer_toolkit.features.faces import crop_square
    from fer_toolkit.models.recognizer import Recognizer

    recognizer = Recognizer(model)
    arrays = recognizer.predict_crops(images)[0].argmax(1)
    scenes = pasted_scenes(images, background_images(), np.random.default_rng(seed))
    found = scene_right = array_right = resampled_right = 0
    sides, offsets = [], []  # the pipeline's crop square against the pasted one
    framed = []  # per found face: final crop square / pasted square, right in the scene, right on the arrays
    for (image, truth), label, array_label in zip(scenes, labels, arrays):
        face = face_at(recognizer, image, truth)
        if face:
            found += 1
            right = recognizer.classes.index(face["label"]) == label
            scene_right += right
            array_right += array_label == label
            x, y, side, _ = truth
            resampled = cv2.resize(image[y : y + side, x : x + side], images.shape[1:], interpolation=cv2.INTER_AREA)
            resampled_right += recognizer.predict_crops(resampled[None])[0][0].argmax() == label
            x0, y0, crop = crop_square(face["box"])
            sides.append(crop / side)
            offsets.append(max(abs(x0 + crop / 2 - x - side / 2), abs(y0 + crop / 2 - y - side / 2)) / side)
            framed.append((final_square(recognizer, image, face)[2] / side, right, array_label == label))
    found_share = max(found, 1)
    return (f"{model}: {found} of {len(labels)} faces found; accuracy on them {scene_right / found_share:.2%} "
            f"in the scenes, {array_right / found_share:.2%} on their arrays, {resampled_right / found_share:.2%} "
            f"on their pasted squares resized back to the model's side; all arrays {np.mean(arrays == labels):.2%}\n"
            f"  crop square / pasted square: {np.percentile(sides, 10):.2f} to {np.percentile(sides, 90):.2f} "
            f"(10th to 90th percentile); crop centre off by {np.percentile(offsets, 90):.3f} of a side or less "
            f"(90th percentile)\n" + framing_table(framed))


def final_square(recognizer, image, face):
    """The square the photo pipeline finally cut ``face`` from (re-framed from its landmarks as
    :meth:`models.recognizer.Recognizer.locate` does), as ``(x0, y0, side)``."""
    from fer_toolkit.features.faces import to_gray

    gray = to_gray(image)
    return recognizer.spec.crop_framed(gray, [tuple(face["box"])], recognizer.reframe)[0][0]


def framing_table(framed, edges=(0.9, 0.97, 1.03, 1.1)):
    """Markdown rows: the found faces by their final crop square over the pasted square, with the
    accuracy in the scenes and on the same faces' arrays."""
    framed = np.asarray(framed, dtype=np.float64).reshape(-1, 3)
    bins = np.digitize(framed[:, 0], edges)
    names = [f"< {edges[0]}"] + [f"{a} to {b}" for a, b in zip(edges, edges[1:])] + [f">= {edges[-1]}"]
    lines = ["| final crop / pasted square | faces | in the scenes | their arrays | points lost (of all found) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for k, name in enumerate(names):
        rows = framed[bins == k]
        if len(rows):
            lines.append(f"| {name} | {len(rows)} | {rows[:, 1].mean():.2%} | {rows[:, 2].mean():.2%} | "
                         f"{(rows[:, 2].sum() - rows[:, 1].sum()) / len(framed) * 100:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/features", help="output folder of fer-convert (PublicTest is read)")
    p.add_argument("--limit", type=int, default=500, help="first N PublicTest faces")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--gate", type=int, default=0, metavar="N",
                   help="also print gate_signals on the photos that reach the CNN over the photo and on N "
                        "face-free scenes (a screen for skipping that look)")
    p.add_argument("--ranks", action="store_true",
                   help="also print, for each photo that reaches the CNN over the photo, its face's rank among "
                        "HOG's near misses and BlazeFace's proposals (could more candidates replace that look?)")
    p.add_argument("--accuracy", default="", metavar="MODELS",
                   help="instead: for each model (comma-separated names or bundle folders), its accuracy on the "
                        "faces found in the scenes against its accuracy on the same faces' arrays, then stop")
    args = p.parse_args(argv)

    from photos import background_images, scene

    from fer_toolkit.features.io import load_arrays
    from fer_toolkit.models.recognizer import proposed_candidates

    arrays = load_arrays(args.data, "PublicTest", limit=args.limit)
    images = arrays["images"]
    if args.accuracy:
        print(f"{len(images)} PublicTest faces in 640x480 scenes")
        for model in args.accuracy.split(","):
            print(accuracy_on_found(model, images, arrays["labels"], args.seed), flush=True)
        return 0
    backgrounds, rng = background_images(), np.random.default_rng(args.seed)
    counts, before, reaching = {}, [], []
    for image, (x, y, side, _) in pasted_scenes(images, backgrounds, rng):
        look, seconds = first_look(image, (x, y, side, side), proposed_candidates)
        counts[look] = counts.get(look, 0) + 1
        if seconds is not None:
            before.append(seconds)
            if args.gate:
                reaching.append((look, *gate_signals(image)))
            if args.ranks:
                (hog, hog_score), windows, (blaze, blaze_score), proposals = candidate_ranks(image, (x, y, side, side))
                print(f"  reaches the CNN over the photo: {look:<20} face {side:>3} px; rank among HOG's windows "
                      f"{hog} (score {hog_score if hog_score is None else round(hog_score, 2)}) of {windows}; among "
                      f"BlazeFace's proposals {blaze} (score {blaze_score if blaze_score is None else round(blaze_score, 3)}) "
                      f"of {proposals}", flush=True)
    print(f"{len(images)} PublicTest faces in 640x480 scenes")
    for look in ("hog", "hog upsampled", "cnn around candidates", "cnn over the photo", "other", "missed"):
        print(f"{look:<24} {counts.get(look, 0):>5}  {counts.get(look, 0) / len(images):6.1%}")
    if before:
        print(f"looks before the CNN over the photo, on the {len(before)} photos that reach it: median "
              f"{np.median(before) * 1000:.0f} ms")
    if args.gate:
        free = [gate_signals(scene(backgrounds, rng)) for _ in range(args.gate)]
        print("photos reaching the CNN over the photo: look, BlazeFace's best score, HOG near misses")
        for look, score, near in sorted(reaching, key=lambda r: -r[1]):
            print(f"  {look:<22} {score:.3f} {near}")
        scores = np.array([s for s, _ in free])
        near = np.array([n for _, n in free])
        for t in (0.01, 0.05, 0.1, 0.2, 0.3, 0.5):
            kept = [r for r in reaching if r[1] >= t or r[2]]
            print(f"gate: BlazeFace >= {t} or a near miss: {np.mean((scores >= t) | (near > 0)):.1%} of "
                  f"{len(free)} face-free scenes would run the CNN; of the reaching photos it finds a face in, "
                  f"{sum(r[0] == 'cnn over the photo' for r in kept)} of "
                  f"{sum(r[0] == 'cnn over the photo' for r in reaching)} kept")


if __name__ == "__main__":
    sys.exit(main())
