"""Test-time augmentation in the photo path, on PublicTest faces pasted into scenes (screen).

The first N PublicTest faces are pasted into 640x480 scenes as
``benchmarks/photos.py`` makes them (seed 5, ``scene_stages.pasted_scenes``).
Each face that the default photo pipeline finds is classified at that box with
no TTA, flip TTA and ten-view TTA (``Recognizer(tta=, tta_shift=)``), beside the
same faces' arrays with the same views (``fer-evaluate``'s path). PublicTest
only: this screens a setting.

    python benchmarks/tta_scenes.py --data ~/fer-data/fer2013 --limit 800
"""

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SETTINGS = {"plain": {}, "flip": {"tta": True, "tta_shift": 0}, "ten": {"tta": True, "tta_shift": 3}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="fer-convert output of FER-2013 (PublicTest is read)")
    p.add_argument("--limit", type=int, default=800, help="first N PublicTest faces")
    p.add_argument("--model", default="fer2013", help="shipped model's name or bundle folder")
    args = p.parse_args(argv)

    from photos import background_images, read_predictions
    from scene_stages import face_at, pasted_scenes

    from fer_toolkit.features.io import load_arrays
    from fer_toolkit.models.evaluate import evaluate
    from fer_toolkit.models.recognizer import Recognizer

    arrays = load_arrays(args.data, "PublicTest", limit=args.limit)
    images, labels = arrays["images"], arrays["labels"]
    recognizers = {k: Recognizer(args.model, **v) for k, v in SETTINGS.items()}
    base = recognizers["plain"]
    on_arrays, out = {}, tempfile.mkdtemp(prefix="fer-tta-")
    for k, v in SETTINGS.items():  # the arrays with the same views, face by face from predictions.csv
        evaluate(base.model_paths, args.data, "PublicTest", out_dir=os.path.join(out, k), limit=args.limit,
                 tta=v.get("tta", False), tta_shift=v.get("tta_shift", 0))
        on_arrays[k] = np.array([base.classes.index(r["predicted"]) for r in read_predictions(out, k)])
    right = {k: [] for k in SETTINGS}
    arrays_right = {k: [] for k in SETTINGS}
    scenes = pasted_scenes(images, background_images(), np.random.default_rng(5))
    for i, ((image, truth), label) in enumerate(zip(scenes, labels)):
        face = face_at(base, image, truth)
        if not face:
            continue
        for k, r in recognizers.items():
            right[k].append(r.classes.index(r.predict(image, boxes=[face["box"]])[0]["label"]) == label)
            arrays_right[k].append(on_arrays[k][i] == label)
    print(f"{len(right['plain'])} of {len(labels)} found")
    for k in SETTINGS:
        print(f"{k}: scenes on found {np.mean(right[k]):.2%}, their arrays {np.mean(arrays_right[k]):.2%}, "
              f"all arrays {np.mean(on_arrays[k] == labels):.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
