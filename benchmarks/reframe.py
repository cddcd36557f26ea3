"""Screen: each found face cropped again from its landmarks, at FER-2013's median framing.

HOG's box frames a face 0.83 to 1.23 times as wide as FER-2013 does
(``scene_stages.py --accuracy``). This measures the framing of FER-2013's
Training faces relative to their 68 landmarks (the crop side in landmark
spreads, the crop centre's offset from the landmarks' centre), then, for
every face the photo pipeline finds, crops it again at that median framing
from its landmarks (once, and again from the new crop's landmarks) and
classifies the new crop. It reports the accuracy with the pipeline's own
crop and with each re-framing on labelled photo folders (misses counted
wrong, other classes' answers wrong) and on PublicTest faces pasted into
scenes (never PrivateTest: this screens a setting).

    python benchmarks/reframe.py --data ~/fer-data/fer2013 --model ferplus --images ../shared/photos/muxspace
    python benchmarks/reframe.py --data ~/fer-data/fer2013 --model fer2013 --scenes 600
"""

import argparse
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def framing(data):
    """FER-2013's median framing relative to the landmarks, from the Training split of ``data``:
    (crop side, centre offset x, centre offset y), in landmark spreads."""
    from fer_toolkit.features.io import load_arrays

    points = load_arrays(data, "Training", names=("landmarks",))["landmarks"].reshape(-1, 68, 2).astype(np.float64)
    centres = points.mean(1)
    spreads = np.sqrt(((points - centres[:, None]) ** 2).sum(2).mean(1))
    side = 48.0
    return (float(np.median(side / spreads)), float(np.median((side / 2 - centres[:, 0]) / spreads)),
            float(np.median((side / 2 - centres[:, 1]) / spreads)))


def square(landmarks, frame):
    """The crop square ``(x0, y0, side)`` that ``frame`` puts around landmarks."""
    from fer_toolkit.models.video import _centre_and_spread

    centre, spread = _centre_and_spread(np.asarray(landmarks, dtype=np.float64).reshape(-1, 2))
    side = frame[0] * spread
    return centre[0] + frame[1] * spread - side / 2, centre[1] + frame[2] * spread - side / 2, side


def reframed_labels(recognizer, gray, landmarks, frame, passes=2):
    """The class index of a face cropped again from its landmarks, after each pass."""
    from fer_toolkit.features.faces import crop_square_image

    labels = []
    for _ in range(passes):
        x0, y0, side = square(landmarks, frame)
        crop = crop_square_image(gray, x0, y0, side, recognizer.spec.image_size)
        probabilities, arrays = recognizer.predict_crops(crop[None])
        labels.append(int(probabilities[0].argmax()))
        landmarks = np.asarray(arrays["landmarks"][0], dtype=np.float64).reshape(-1, 2) * side / crop.shape[0] + [x0, y0]
    return labels


def score_folder(recognizer, root, frame):
    """Accuracy on a labelled folder tree with the pipeline's crop and with each re-framing."""
    from fer_toolkit.features.faces import to_gray

    right = np.zeros(3)
    total = 0
    names = [c.lower() for c in recognizer.classes]
    for cls in sorted(os.listdir(root)):
        for path in sorted(glob.glob(os.path.join(root, cls, "*"))):
            try:
                faces = recognizer.predict(path)
            except Exception:  # a file the pipeline refuses counts as it would in fer-evaluate: skipped
                continue
            total += 1
            if not faces:
                continue
            decoded = recognizer.decode(path, grey=True)
            gray = to_gray(decoded.array)
            labels = [names.index(faces[0]["label"].lower())]
            labels += reframed_labels(recognizer, gray, np.asarray(faces[0]["landmarks"]) / decoded.scale, frame)
            right += [names[k] == cls.lower() for k in labels]
    return total, right / max(total, 1)


def score_scenes(recognizer, data, n, frame, seed=5):
    """Accuracy on the faces found among ``n`` PublicTest faces in scenes, both ways."""
    from photos import background_images
    from scene_stages import face_at, pasted_scenes

    from fer_toolkit.features.io import load_arrays

    arrays = load_arrays(data, "PublicTest", limit=n)
    right, found = np.zeros(3), 0
    scenes = pasted_scenes(arrays["images"], background_images(), np.random.default_rng(seed))
    for (image, truth), label in zip(scenes, arrays["labels"]):
        face = face_at(recognizer, image, truth)
        if face:
            found += 1
            labels = [recognizer.classes.index(face["label"])] + reframed_labels(recognizer, image, face["landmarks"], frame)
            right += [k == label for k in labels]
    return found, right / max(found, 1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="fer-convert output of FER-2013 (Training sets the framing)")
    p.add_argument("--model", default=None, help="shipped model's name or bundle folder (default: the default model)")
    p.add_argument("--images", default="", help="a labelled photo folder tree (class folders)")
    p.add_argument("--scenes", type=int, default=0, help="PublicTest faces pasted into scenes (0: none)")
    args = p.parse_args(argv)

    from fer_toolkit.models.recognizer import Recognizer

    frame = framing(args.data)
    print(f"FER-2013's framing: side {frame[0]:.3f} landmark spreads, centre offset ({frame[1]:.3f}, {frame[2]:.3f})")
    recognizer = Recognizer(args.model)
    if args.images:
        total, acc = score_folder(recognizer, args.images, frame)
        print(f"{args.images} ({total} photos, misses wrong): pipeline {acc[0]:.2%}, re-framed once {acc[1]:.2%}, "
              f"twice {acc[2]:.2%}")
    if args.scenes:
        found, acc = score_scenes(recognizer, args.data, args.scenes, frame)
        print(f"{args.scenes} PublicTest faces in scenes, {found} found; on those: pipeline {acc[0]:.2%}, "
              f"re-framed once {acc[1]:.2%}, twice {acc[2]:.2%}")


if __name__ == "__main__":
    sys.exit(main())
