"""FER-2013 PrivateTest as photo files, through the whole photo pipeline.

Writes labelled folders (``<out>/<folder>/<class>/<n>.png``) from the
converted PrivateTest split, then runs ``fer-evaluate --images`` on each beside
``fer-evaluate`` on the arrays, with wall times:

- ``f48``: each face as stored, a 48x48 PNG;
- ``f192``: each face upscaled 4x (bicubic) to 192x192;
- ``scene640``: each face resized to 64..160 px and pasted at a random place
  into a 640x480 grey scene cut from scikit-image's face-free sample photos;
- ``background640``: the same scenes without the face (one folder ``none``):
  any face reported there is a false one;
- ``background192``: a 192x192 cut of each of those scenes, for the second
  looks that small images get.

    python benchmarks/photos.py --data data/features --out /tmp/fer-photos [--limit 1000] [--model DIR]
    python benchmarks/photos.py --data data/features --out /tmp/fer-photos --calibrate   # CNN box -> HOG box
    python benchmarks/photos.py --data data/features --out /tmp/fer-photos --detectors 100   # each detector alone
    python benchmarks/photos.py --data data/features --limit 1000 --groups 150   # group photos, small faces

Each face folder also gets a face-by-face line against the arrays: the faces
missed and how many of them the arrays get right, and on the faces found, the
arrays' accuracy against the photos' (from the evaluations' ``predictions.csv``).

The folders are derived from the dataset: keep them out of the repository
(``--out`` defaults to a temporary folder).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

#: scikit-image sample photos without a human (or animal) face, used as backgrounds.
BACKGROUNDS = ("brick", "grass", "gravel", "rocket", "coffee", "coins", "moon", "page", "text",
               "hubble_deep_field", "immunohistochemistry", "horse", "logo", "motorcycle", "retina",
               "clock", "colorwheel", "microaneurysms", "shepp_logan_phantom", "cell")


def background_images():
    """The face-free sample photos as grey uint8 arrays of at least 480 px a side (upscaled when smaller)."""
    from skimage import data

    out = []
    for name in BACKGROUNDS:
        try:
            image = np.asarray(getattr(data, name)())
        except Exception:  # a sample missing from this scikit-image version
            continue
        if image.ndim == 3:
            image = cv2.cvtColor(image[..., :3], cv2.COLOR_RGB2GRAY)
        if image.dtype != np.uint8:
            image = cv2.normalize(image.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        k = max(640 / image.shape[1], 480 / image.shape[0], 1.0)
        if k > 1:
            image = cv2.resize(image, (int(np.ceil(image.shape[1] * k)), int(np.ceil(image.shape[0] * k))),
                               interpolation=cv2.INTER_CUBIC)
        out.append(image)
    return out


def scene(backgrounds, rng):
    """A random 640x480 cut of a random background."""
    image = backgrounds[rng.integers(len(backgrounds))]
    y = rng.integers(0, image.shape[0] - 480 + 1)
    x = rng.integers(0, image.shape[1] - 640 + 1)
    return image[y : y + 480, x : x + 640].copy()


#: Where each scene640 face was pasted: {"<class>/<file>": [x, y, side]}, beside the folders.
PLACES = "scene640-places.json"


def write_folders(images, labels, classes, out, seed=0, backgrounds_limit=0):
    """Write the four folders (at most ``backgrounds_limit`` face-free scenes, 0: one a face); returns their paths."""
    rng = np.random.default_rng(seed)
    cuts = np.random.default_rng(seed + 1)  # its own stream: the other folders stay as they were
    backgrounds = background_images()
    folders = {name: os.path.join(out, name) for name in ("f48", "f192", "scene640", "background640", "background192")}
    places = {}
    for name in ("f48", "f192", "scene640"):
        for c in classes:
            os.makedirs(os.path.join(folders[name], c), exist_ok=True)
    for name in ("background640", "background192"):
        os.makedirs(os.path.join(folders[name], "none"), exist_ok=True)
    for i, (face, label) in enumerate(zip(images, labels)):
        name = f"{i:05d}.png"
        cls = classes[label]
        cv2.imwrite(os.path.join(folders["f48"], cls, name), face)
        cv2.imwrite(os.path.join(folders["f192"], cls, name), cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC))
        background = scene(backgrounds, rng)
        if not backgrounds_limit or i < backgrounds_limit:
            cv2.imwrite(os.path.join(folders["background640"], "none", name), background)
            y, x = int(cuts.integers(0, 480 - 192 + 1)), int(cuts.integers(0, 640 - 192 + 1))
            cv2.imwrite(os.path.join(folders["background192"], "none", name), background[y : y + 192, x : x + 192])
        side = int(rng.integers(64, 161))
        y, x = int(rng.integers(0, 480 - side + 1)), int(rng.integers(0, 640 - side + 1))
        background[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(os.path.join(folders["scene640"], cls, name), background)
        places[os.path.join(cls, name)] = (x, y, side)
    with open(os.path.join(out, PLACES), "w") as f:  # beside the folder, not in it
        json.dump(places, f)
    return folders


def pasted_squares(out):
    """Where ``write_folders`` pasted each scene640 face: {"<class>/<file>": (x, y, side)}."""
    with open(os.path.join(out, PLACES)) as f:
        return {name: tuple(place) for name, place in json.load(f).items()}


def missed_by_side(out, missed, step=16):
    """One line: the scene faces missed, by the side of their pasted square."""
    sides = {name: side for name, (_, _, side) in pasted_squares(out).items()}
    missed = {scene_name(p) for p in missed}
    bins = {}
    for name, side in sides.items():
        low = side // step * step
        total, lost = bins.get(low, (0, 0))
        bins[low] = (total + 1, lost + (name in missed))
    capped = " (the first 100 missed only)" if len(missed) >= 100 else ""
    return f"scene640 faces missed{capped}, by the side of the pasted square: " + ", ".join(
        f"{low}-{low + step - 1} px {lost} of {total}" for low, (total, lost) in sorted(bins.items()))


def read_predictions(out, folder):
    """The rows of ``fer-evaluate``'s ``predictions.csv`` in ``out/folder``, as dicts."""
    import csv

    with open(os.path.join(out, folder, "predictions.csv"), newline="") as f:
        return list(csv.DictReader(f))


def arrays_right(out, folder="eval-arrays"):
    """Per row of the split, whether ``fer-evaluate`` on the arrays (``out/folder``) got the face right."""
    return {int(r["row"]): r["predicted"] == r["label"] for r in read_predictions(out, folder)}


def face_by_face(out, name):
    """Each photo of folder ``name`` beside its face in the arrays: (row of predictions.csv, arrays
    right, face found, photo right); each file is named after its row in the split."""
    arrays = arrays_right(out)
    return [(r, arrays[int(os.path.splitext(os.path.basename(r["image"]))[0])], r["faces"] not in ("0", "unreadable"),
             r["predicted"] == r["label"]) for r in read_predictions(out, f"eval-{name}")]


def gap_line(out, name):
    """One line: where a folder's faces lose against the arrays, face by face (the ``predictions.csv``
    of ``eval-arrays`` and ``eval-<name>``)."""
    photos = [(a, found, p) for _, a, found, p in face_by_face(out, name)]
    n = len(photos)
    missed = [a for a, found, _ in photos if not found]
    found = [(a, p) for a, f, p in photos if f]
    arrays_right, photos_right = sum(a for a, _ in found), sum(p for _, p in found)
    share = max(len(found), 1)
    return (f"{name} against the arrays, face by face: {len(missed)} faces missed, of which the arrays get "
            f"{sum(missed)} right ({sum(missed) / n:.2%} of all faces); on the {len(found)} found, the arrays "
            f"{arrays_right / share:.2%}, the photos {photos_right / share:.2%} "
            f"({(arrays_right - photos_right) / n:.2%} of all faces; right in one only: arrays "
            f"{sum(a and not p for a, p in found)}, photos {sum(p and not a for a, p in found)})")


def scene_name(path):
    """A scene640 photo's key in :func:`pasted_squares`: ``"<class>/<file>"``."""
    return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))


def box_outside(row, places):
    """How far the box found in a scene640 photo (a row of ``predictions.csv``) runs outside the
    square its face was pasted in, in sides of that square (below 0: inside it)."""
    x, y, w, h = (float(row[k]) for k in ("x", "y", "width", "height"))
    px, py, side = places[scene_name(row["image"])]
    return max(px - x, py - y, x + w - (px + side), y + h - (py + side)) / side


def beyond_square_table(out, edges=(0.0, 0.05, 0.1)):
    """A Markdown table: the scene640 faces found, by how far the box found runs outside the square
    the face was pasted in (in sides of that square; below 0: inside it), with their accuracy in the
    scenes and on their arrays, and the points each bin loses of all faces found."""
    places = pasted_squares(out)
    rows = [(box_outside(r, places), arrays_right, photo_right)
            for r, arrays_right, found, photo_right in face_by_face(out, "scene640") if found]
    bounds = [-np.inf, *edges, np.inf]
    lines = ["| box outside the pasted square | faces | in the scenes | their arrays | points lost (of all found) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for low, high in zip(bounds[:-1], bounds[1:]):
        sel = [(a, p) for b, a, p in rows if low <= b < high]
        label = f"below {high:g}" if low == -np.inf else f"{low:g} and more" if high == np.inf else f"{low:g} to {high:g}"
        a, p = sum(a for a, _ in sel), sum(p for _, p in sel)
        n = max(len(sel), 1)
        lines.append(f"| {label} | {len(sel)} | {p / n:.2%} | {a / n:.2%} | {100 * (a - p) / max(len(rows), 1):.2f} |")
    return "\n".join(lines)


def calibrate(folders, n=300):
    """How dlib's CNN detector frames a face against its HOG detector, on faces
    both find once: the median ratio of HOG's box side to the CNN's, and the
    offset of HOG's centre in CNN box sides (``VIDEO.cnn_box_*``)."""
    import glob

    from fer_toolkit.features.faces import _cnn_detector, _dlib_detector

    rows = []
    paths = sorted(glob.glob(os.path.join(folders["f192"], "*", "*.png")))[:n]
    paths += sorted(glob.glob(os.path.join(folders["scene640"], "*", "*.png")))[: n // 2]
    for path in paths:
        image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if max(image.shape) < 300:  # a margin around faces that fill the image
            image = cv2.copyMakeBorder(image, 40, 40, 40, 40, cv2.BORDER_REPLICATE)
        hog, cnn = _dlib_detector()(image, 0), _cnn_detector()(image, 0)
        if len(hog) == 1 and len(cnn) == 1:
            a, b = hog[0], cnn[0].rect
            side = max(b.width(), b.height())
            rows.append((max(a.width(), a.height()) / side, ((a.left() + a.right()) - (b.left() + b.right())) / 2 / side,
                         ((a.top() + a.bottom()) - (b.top() + b.bottom())) / 2 / side))
    scale, dx, dy = np.median(np.asarray(rows), axis=0)
    print(f"{len(rows)} faces found once by both: cnn_box_scale {scale:.3f}, cnn_box_shift_x {dx:.3f}, "
          f"cnn_box_shift_y {dy:.3f}")


def compare_detectors(folders, n):
    """Found share and median time of each detector alone on the first ``n`` files of each folder
    (images as they are: no enlarging, no margin)."""
    import glob
    import statistics

    from fer_toolkit.features import faces

    detectors = {"dlib": faces._dlib_detector(), "cnn": faces._cnn_detector()}
    print("| folder | detector | found | median ms |")
    print("| --- | --- | ---: | ---: |")
    for name, folder in folders.items():
        paths = sorted(glob.glob(os.path.join(folder, "*", "*.png")))[:n]
        for kind, detector in detectors.items():
            found, times = 0, []
            for path in paths:
                image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
                started = time.perf_counter()
                found += len(detector(image, 0)) > 0
                times.append((time.perf_counter() - started) * 1000)
            print(f"| {name} | {kind} | {found / len(paths):.0%} | {statistics.median(times):.0f} |", flush=True)


def group_scenes(images, labels, n, seed=0, sides=(40, 97), faces=(2, 6)):
    """``n`` 640x480 scenes with several faces each, like a group photo: each
    of ``faces[0]`` to ``faces[1]`` faces resized to a side in ``sides``
    (``[low, high)``) and pasted where it overlaps no other. Returns a list of
    (scene, [(x, y, side, label), ...]); the faces are taken in order."""
    rng = np.random.default_rng(seed + 2)
    backgrounds = background_images()
    out, k = [], 0
    for _ in range(n):
        image = scene(backgrounds, rng)
        placed = []
        for _ in range(int(rng.integers(faces[0], faces[1] + 1))):
            side = int(rng.integers(*sides))
            for _ in range(50):  # a free place
                y, x = int(rng.integers(0, 480 - side + 1)), int(rng.integers(0, 640 - side + 1))
                if all(x + side <= px or px + ps <= x or y + side <= py or py + ps <= y for px, py, ps, _ in placed):
                    break
            else:
                continue
            face, label = images[k % len(images)], int(labels[k % len(labels)])
            k += 1
            image[y : y + side, x : x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
            placed.append((x, y, side, label))
        out.append((image, placed))
    return out


def evaluate_groups(scenes, settings, model=None):
    """Faces found and their accuracy in group scenes, for each ``(name,
    Recognizer keyword arguments)`` of ``settings``. A face is found when a
    reported box overlaps its pasted square by an IoU of 0.3 or more (one box
    per face); other boxes are false faces. Prints one table row each."""
    import statistics

    from fer_toolkit.features.faces import box_iou
    from fer_toolkit.models.recognizer import Recognizer

    total = sum(len(placed) for _, placed in scenes)
    print(f"{len(scenes)} scenes, {total} faces")
    print("| settings | faces found | accuracy (misses wrong) | accuracy on found faces | false faces | "
          "median ms / photo |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, kwargs in settings:
        recognizer = Recognizer(model, **kwargs)
        found = correct = false = 0
        times = []
        for image, placed in scenes:
            started = time.perf_counter()
            faces = recognizer.predict(image)
            times.append((time.perf_counter() - started) * 1000)
            unused = list(range(len(faces)))
            for x, y, side, label in placed:
                best = max(unused, key=lambda i: box_iou(faces[i]["box"], (x, y, side, side)), default=None)
                if best is None or box_iou(faces[best]["box"], (x, y, side, side)) < 0.3:
                    continue
                unused.remove(best)
                found += 1
                correct += faces[best]["label"] == recognizer.classes[label]
            false += len(unused)
        print(f"| {name} | {found / total:.2%} | {correct / total:.2%} | {correct / max(found, 1):.2%} | {false} | "
              f"{statistics.median(times):.0f} |", flush=True)


def run(cmd):
    """Run a command; returns (parsed JSON output, seconds)."""
    started = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {res.returncode}: {res.stderr[-500:]}")
    return json.loads(res.stdout), seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/features", help="output folder of fer-convert (PrivateTest is read)")
    p.add_argument("--out", default=None, help="where to write the folders (default: a temporary folder)")
    p.add_argument("--limit", type=int, default=0, help="first N PrivateTest faces only (0: all 3,589)")
    p.add_argument("--split", default="PrivateTest", choices=("PublicTest", "PrivateTest"),
                   help="the faces written (PublicTest: to choose a setting; PrivateTest: to report)")
    p.add_argument("--model", default="fer2013",
                   help="model bundle or shipped model's name (default: fer2013, the model of the faces' labels)")
    p.add_argument("--folders", default="f48,f192,scene640,background640,background192", help="folders to evaluate")
    p.add_argument("--extra", default="", help="extra flags for fer-evaluate --images, e.g. '--detector opencv'")
    p.add_argument("--backgrounds", type=int, default=200,
                   help="face-free scenes written (0: one a face; the CNN detector looks at each for about 1.2 s)")
    p.add_argument("--detectors", type=int, default=0, metavar="N",
                   help="compare the detectors alone on the first N files of each folder, then stop")
    p.add_argument("--groups", type=int, default=0, metavar="N",
                   help="instead of the folders: N group scenes (2 to 6 faces of 40 to 96 px each) through the "
                        "photo pipeline with the default settings, without the group look and with --upsample 1, then stop")
    p.add_argument("--calibrate", action="store_true",
                   help="measure how the CNN detector frames faces against HOG (parameters.VideoPredictor.cnn_box_*)")
    args = p.parse_args()

    from fer_toolkit.features.io import load_arrays, load_manifest

    classes = load_manifest(args.data)["classes"]
    arrays = load_arrays(args.data, args.split, limit=args.limit)
    if args.groups:
        return evaluate_groups(group_scenes(arrays["images"], arrays["labels"], args.groups),
                               [("default", {}), ("without the group look", {"group_look": False}),
                                ("--upsample 1", {"upsample": 1})], args.model)
    out = args.out or tempfile.mkdtemp(prefix="fer-photos-")
    folders = write_folders(arrays["images"], arrays["labels"], classes, out, backgrounds_limit=args.backgrounds)
    if args.calibrate:
        return calibrate(folders)
    if args.detectors:
        return compare_detectors(folders, args.detectors)
    evaluate = [sys.executable, "-m", "fer_toolkit.scripts.evaluate", "--model", args.model]
    print(f"machine: {os.cpu_count()} cores; {len(arrays['labels'])} {args.split} faces; folders in {out}")
    print("| input | faces found | accuracy (misses wrong) | accuracy on found faces | macro-F1 (found) | "
          "median ms / image | wall (s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    result, seconds = run(evaluate + ["--data", args.data, "--split", args.split, "--json",
                                      "--out", os.path.join(out, "eval-arrays")] +
                          (["--limit", str(args.limit)] if args.limit else []))
    print(f"| arrays (fer-evaluate) | - | {result['accuracy']:.2%} | - | {result['macro_f1']:.3f} | - | "
          f"{seconds:.0f} |", flush=True)
    notes = []
    for name in args.folders.split(","):
        result, seconds = run(evaluate + ["--images", folders[name], "--json", "--out",
                                          os.path.join(out, f"eval-{name}")] + args.extra.split())
        if name.startswith("background"):
            print(f"| {name} (no face) | {result['false_faces']:.2%} (false faces) | - | - | - | "
                  f"{result['median_ms']:.0f} | {seconds:.0f} |", flush=True)
            continue
        print(f"| {name} | {result['found']:.2%} | {result['accuracy_all']:.2%} | {result['accuracy']:.2%} | "
              f"{result['macro_f1']:.3f} | {result['median_ms']:.0f} | {seconds:.0f} |", flush=True)
        notes.append(gap_line(out, name))
        if name == "scene640":
            notes.append(missed_by_side(out, result["missed"]))
            notes.append(beyond_square_table(out))
    for line in notes:
        print(line)


if __name__ == "__main__":
    main()
