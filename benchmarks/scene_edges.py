"""The scene faces whose box runs past their pasted square: texture or framing? (control)

A 48x48 FER-2013 face pasted into a scene ends where its square ends; a face that
fills its square (chin or forehead cut) is found with a box that runs past the
square, and the crop around it then shows the scene's texture where a photograph
would show the rest of the head. This script takes the scene640 photos whose box
found runs outside the pasted square by ``--beyond`` of its side or more (in a
folder that ``benchmarks/photos.py --out DIR`` wrote and evaluated), writes the
same scenes with a margin of half a side around the square filled by repeating
the face's edge pixels instead of texture, runs ``fer-evaluate --images`` on them,
and prints one line: the same faces' accuracy on their arrays, in the scenes, and
with the margin.

    python benchmarks/photos.py --data ~/fer-data/fer2013 --out /tmp/fer-photos --folders scene640
    python benchmarks/scene_edges.py --data ~/fer-data/fer2013 --out /tmp/fer-photos
"""

import argparse
import os
import subprocess
import sys

import cv2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def with_margin(scene, face, place):
    """``scene`` with ``face`` pasted at ``place`` (x, y, side) inside a margin of half a side
    that repeats the face's edge pixels (clipped to the scene)."""
    x, y, side = place
    m = side // 2
    big = cv2.copyMakeBorder(cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC), m, m, m, m,
                             cv2.BORDER_REPLICATE)
    y0, x0 = y - m, x - m
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + side + 2 * m, scene.shape[0]), min(x0 + side + 2 * m, scene.shape[1])
    region = big[ys - y0 : ye - y0, xs - x0 : xe - x0]
    out = scene.copy()
    out[ys:ye, xs:xe] = region if scene.ndim == 2 else region[..., None]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="fer-convert output whose split photos.py wrote")
    p.add_argument("--out", required=True, help="the folder photos.py wrote (scene640, its places file, "
                                                "eval-arrays and eval-scene640)")
    p.add_argument("--split", default="PrivateTest", help="the split photos.py wrote (default: %(default)s)")
    p.add_argument("--beyond", type=float, default=0.1,
                   help="photos whose box runs this far outside the pasted square, in its sides (default: %(default)s)")
    p.add_argument("--model", default="fer2013", help="the model photos.py evaluated with (default: %(default)s)")
    args = p.parse_args(argv)

    from photos import box_outside, face_by_face, pasted_squares, scene_name

    from fer_toolkit.features.io import load_arrays

    places = pasted_squares(args.out)
    faces = load_arrays(args.data, args.split)["images"]
    chosen = {scene_name(r["image"]): (a, p) for r, a, found, p in face_by_face(args.out, "scene640")
              if found and box_outside(r, places) >= args.beyond}
    folder = os.path.join(args.out, "scene640-margin")
    for name in chosen:
        os.makedirs(os.path.join(folder, os.path.dirname(name)), exist_ok=True)
        scene = cv2.imread(os.path.join(args.out, "scene640", name), cv2.IMREAD_UNCHANGED)
        row = int(os.path.splitext(os.path.basename(name))[0])
        cv2.imwrite(os.path.join(folder, name), with_margin(scene, faces[row], places[name]))
    subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.evaluate", "--model", args.model, "--images", folder,
                    "--json", "--no-progress", "--out", os.path.join(args.out, "eval-scene640-margin")],
                   check=True, capture_output=True)
    margin = {scene_name(r["image"]): p for r, _, found, p in face_by_face(args.out, "scene640-margin") if found}
    both = [name for name in chosen if name in margin]
    n = max(len(both), 1)
    print(f"{len(chosen)} scene faces found with a box {args.beyond:g} of a side or more outside the pasted square; "
          f"on the {len(both)} also found with the margin: arrays {sum(chosen[k][0] for k in both) / n:.2%}, "
          f"scenes {sum(chosen[k][1] for k in both) / n:.2%}, margin of repeated edge pixels "
          f"{sum(margin[k] for k in both) / n:.2%}")


if __name__ == "__main__":
    main()
