"""Found faces cut again from their landmarks at FER-2013's framing (``VIDEO.reframe``).

HOG's box frames a face 0.83 to 1.23 times as wide as FER-2013 does
(``scene_stages.py --accuracy``). This measures the framing of FER-2013's
Training faces relative to their 68 landmarks (the crop side in landmark
spreads, the crop centre's offset from the landmarks' centre: the source of
``VIDEO.reframe_side`` and ``VIDEO.reframe_offset``), then scores the photo
pipeline with faces cut again 0, 1 and 2 times from their landmarks
(:meth:`features.spec.FeatureSpec.crop_framed`) on labelled photo folders
(``fer-evaluate --images --reframe N``: misses counted wrong, other classes'
answers wrong) and on PublicTest faces pasted into scenes (never PrivateTest:
this chooses a setting), where every count uses the same faces found.

    python benchmarks/reframe.py --data ~/fer-data/fer2013
    python benchmarks/reframe.py --data ~/fer-data/fer2013 --model ferplus --images ../shared/photos/muxspace
    python benchmarks/reframe.py --data ~/fer-data/fer2013 --model fer2013 --scenes 600
    python benchmarks/reframe.py --data ~/fer-data/fer2013 --model fer2013 --scales 600

``--scales`` cuts each pasted face at its true square scaled 0.85 to 1.2 times
about its centre, from the scene and from the same scene with everything
outside the face mid grey: what a crop wider or narrower than the face's own
framing costs in a scene, where nothing of the head continues past the pasted
square.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PASSES = (0, 1, 2)


def framing(data):
    """FER-2013's median framing relative to the landmarks, from the Training split of ``data``:
    (crop side, centre offset x, centre offset y), in landmark spreads, and the crop side's 10th
    and 90th percentiles."""
    from fer_toolkit.features.io import load_arrays

    points = load_arrays(data, "Training", names=("landmarks",))["landmarks"].reshape(-1, 68, 2).astype(np.float64)
    centres = points.mean(1)
    spreads = np.sqrt(((points - centres[:, None]) ** 2).sum(2).mean(1))
    side = 48.0
    return (float(np.median(side / spreads)), float(np.median((side / 2 - centres[:, 0]) / spreads)),
            float(np.median((side / 2 - centres[:, 1]) / spreads)), tuple(np.percentile(side / spreads, [10, 90])))


def score_folder(model, root):
    """Accuracy (misses wrong) on a labelled folder tree, per number of passes."""
    from fer_toolkit.models.evaluate import evaluate_images

    out = tempfile.gettempdir()
    return {n: evaluate_images(model, root, out_dir=os.path.join(out, f"fer-reframe-{n}"), progress=False,
                               reframe=n)["accuracy_all"] for n in PASSES}


def score_scenes(model, data, n, seed=5):
    """Faces found among ``n`` PublicTest faces in scenes, the accuracy on them per number of
    passes (each face at the box the pipeline found for it), and per number of passes the 10th and
    90th percentiles of the final crop's side over the spread of the landmarks found on it."""
    from photos import background_images
    from scene_stages import face_at, pasted_scenes

    from fer_toolkit.features.io import load_arrays
    from fer_toolkit.features.landmarks import centre_and_spread, landmarks_batch
    from fer_toolkit.models.recognizer import Recognizer

    arrays = load_arrays(data, "PublicTest", limit=n)
    recognizers = {k: Recognizer(model, reframe=k) for k in PASSES}
    spec = recognizers[0].spec
    right, found, framing = np.zeros(len(PASSES)), 0, {k: [] for k in PASSES}
    scenes = pasted_scenes(arrays["images"], background_images(), np.random.default_rng(seed))
    for (image, truth), label in zip(scenes, arrays["labels"]):
        face = face_at(recognizers[0], image, truth)
        if face:
            found += 1
            right += [recognizers[k].classes.index(recognizers[k].predict(image, boxes=[face["box"]])[0]["label"])
                      == label for k in PASSES]
            for k in PASSES:
                crops = spec.crop_framed(image, [face["box"]], k)[1]
                framing[k].append(spec.image_size / centre_and_spread(landmarks_batch(crops)[0])[1])
    return (found, dict(zip(PASSES, right / max(found, 1))),
            {k: tuple(np.percentile(v, [10, 90])) if v else (np.nan, np.nan) for k, v in framing.items()})


def score_scales(model, data, n, scales=(0.85, 0.9, 1.0, 1.1, 1.15, 1.2), seed=5):
    """Accuracy on the arrays, and on ``n`` PublicTest faces in scenes cut at their pasted square
    scaled by each of ``scales``: from the scene, and with the scene outside the square mid grey."""
    from photos import background_images
    from scene_stages import pasted_scenes

    from fer_toolkit.features.faces import crop_squares
    from fer_toolkit.features.io import load_arrays
    from fer_toolkit.models.recognizer import Recognizer

    recognizer = Recognizer(model)
    arrays = load_arrays(data, "PublicTest", limit=n)
    crops = {(s, grey): [] for s in scales for grey in (False, True)}
    for image, (x, y, side, _) in pasted_scenes(arrays["images"], background_images(), np.random.default_rng(seed)):
        flat = np.full_like(image, 128)
        flat[y : y + side, x : x + side] = image[y : y + side, x : x + side]
        for s in scales:
            square = (x + side * (1 - s) / 2, y + side * (1 - s) / 2, s * side)
            for grey in (False, True):
                crops[s, grey].append(crop_squares(flat if grey else image, [square], recognizer.spec.image_size,
                                                   "replicate")[0])

    def accuracy(images):
        return float((recognizer.predict_crops(np.asarray(images))[0].argmax(1) == arrays["labels"]).mean())

    return accuracy(arrays["images"]), {key: accuracy(images) for key, images in crops.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="fer-convert output of FER-2013 (Training sets the framing)")
    p.add_argument("--model", default=None, help="shipped model's name or bundle folder (default: the default model)")
    p.add_argument("--images", default="", help="a labelled photo folder tree (class folders)")
    p.add_argument("--scenes", type=int, default=0, help="PublicTest faces pasted into scenes (0: none)")
    p.add_argument("--scales", type=int, default=0, metavar="N",
                   help="N PublicTest faces in scenes cut at their pasted square scaled 0.85 to 1.2 times (0: none)")
    args = p.parse_args(argv)

    from fer_toolkit.parameters import VIDEO

    frame = framing(args.data)
    print(f"FER-2013's framing: side {frame[0]:.3f} landmark spreads ({frame[3][0]:.2f} to {frame[3][1]:.2f}, 10th to "
          f"90th percentile), centre offset ({frame[1]:.3f}, {frame[2]:.3f}); parameters: {VIDEO.reframe_side}, "
          f"{tuple(VIDEO.reframe_offset)}")
    each = ", ".join
    if args.images:
        acc = score_folder(args.model, args.images)
        print(f"{args.images} (misses wrong): " + each(f"{n} passes {a:.2%}" for n, a in acc.items()))
    if args.scenes:
        found, acc, framed = score_scenes(args.model, args.data, args.scenes)
        print(f"{args.scenes} PublicTest faces in scenes, {found} found; on those: "
              + each(f"{n} passes {a:.2%}" for n, a in acc.items()))
        print("final crop's side / its landmarks' spread, 10th to 90th percentile: "
              + each(f"{n} passes {lo:.2f} to {hi:.2f}" for n, (lo, hi) in framed.items()))
    if args.scales:
        arrays, acc = score_scales(args.model, args.data, args.scales)
        print(f"{args.scales} PublicTest faces: arrays {arrays:.2%}; cut at the pasted square times")
        print("| scale | in the scene | outside the square mid grey |\n| ---: | ---: | ---: |")
        for s in sorted({s for s, _ in acc}):
            print(f"| {s} | {acc[s, False]:.2%} | {acc[s, True]:.2%} |")


if __name__ == "__main__":
    sys.exit(main())
