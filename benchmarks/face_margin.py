"""Measure how FER-2013 frames a face, to crop new photos the same way.

dlib's frontal face detector (the one the predictor uses) runs on FER-2013
Training faces, each scaled up to a random side of 100 to 192 pixels and
placed with room around it: in the middle of a mid-grey canvas twice its
side, and pasted into a 640x480 face-free scene (as ``benchmarks/photos.py``
builds them). For each face found, the box's side and centre are expressed
in units of the FER-2013 frame. The crop of a detected face is
``crop_scale`` times its box, centred ``crop_shift`` box sides from the box's
centre (``parameters.Features.crop_scale``, ``crop_shift_x``, ``crop_shift_y``).

dlib's boxes come in steps of 6/5 (its image pyramid), so the box sides of
faces of one size take two or three values and a median jumps between
them: the scale is the geometric mean of frame side over box side, the
shifts are means. A face that fills the whole image (``--filled``, how this
script measured before) is found only when its box fits inside the image,
which favours small boxes.

    python benchmarks/face_margin.py --data data/features --limit 3000
    python benchmarks/face_margin.py --data data/features --limit 3000 --filled
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def place(face, context, rng, backgrounds):
    """A Training face upscaled and placed with room around it: (image, x, y, side) of the frame."""
    import cv2

    side = int(rng.integers(100, 193))
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    if context == "filled":
        return cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC), 0, 0, 192
    if context == "grey":
        image = np.full((2 * side, 2 * side), 128, np.uint8)
        x = y = side // 2
    else:
        from photos import scene

        image = scene(backgrounds, rng)
        x, y = int(rng.integers(0, 640 - side + 1)), int(rng.integers(0, 480 - side + 1))
    image[y : y + side, x : x + side] = big
    return image, x, y, side


def measure(images, context, seed=0):
    """Per face found: (frame side / box side, box centre x, y in frame units)."""
    import dlib

    from photos import background_images

    detector = dlib.get_frontal_face_detector()
    rng = np.random.default_rng(seed)
    backgrounds = background_images() if context == "scene" else None
    rows = []
    for face in images:
        image, x, y, side = place(face, context, rng, backgrounds)
        for r in detector(image, 0):
            cx, cy = (r.left() + r.right() + 1) / 2, (r.top() + r.bottom() + 1) / 2
            if x <= cx <= x + side and y <= cy <= y + side:  # the pasted face, not something in the scene
                rows.append((side / r.width(), (cx - x) / side, (cy - y) / side))
                break
    return np.asarray(rows, dtype=np.float64)


def crop_geometry(rows):
    """(crop_scale, crop_shift_x, crop_shift_y) from :func:`measure`'s rows."""
    scale = float(np.exp(np.mean(np.log(rows[:, 0]))))
    return scale, (0.5 - rows[:, 1].mean()) * scale, (0.5 - rows[:, 2].mean()) * scale


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/features", help="output folder of fer-convert")
    p.add_argument("--limit", type=int, default=3000, help="Training faces to measure")
    p.add_argument("--filled", action="store_true", help="also the faces filling a 192-pixel image, as measured before")
    args = p.parse_args(argv)
    images = np.asarray(np.load(os.path.join(args.data, "Training", "images.npy"), mmap_mode="r")[: args.limit])
    results = []
    for context in ("grey", "scene") + (("filled",) if args.filled else ()):
        rows = measure(images, context)
        scale, dx, dy = crop_geometry(rows)
        if context != "filled":
            results.append((scale, dx, dy))
        print(f"{context:<7} faces found {len(rows)} of {len(images)}: crop_scale {scale:.3f}, crop_shift_x {dx:+.3f}, "
              f"crop_shift_y {dy:+.3f} (the median would say crop_scale {np.median(rows[:, 0]):.3f})", flush=True)
    scale, dx, dy = np.mean(results, axis=0)
    print(f"=> crop side = {scale:.2f} x box side; crop centre = box centre + ({dx:+.2f}, {dy:+.2f}) x box side")


if __name__ == "__main__":
    main()
