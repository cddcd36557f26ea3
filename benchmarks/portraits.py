"""Portraits: real faces with room around them, as people crop their photos.

Every face that dlib's HOG finds (upsampled once, boxes of 60 px and more)
in real photographs (the project's samples, scikit-image's astronaut and
matplotlib's Grace Hopper) is cut out as a square ``width`` face boxes wide,
the face centred across and ``--top`` of the square above the face's centre
(border replicated where the square runs past the photo), then resized to
``size`` pixels. Each portrait goes through ``Recognizer.detect`` with the
defaults and with ``--no-crop-rule``; a box counts as right when its
intersection over union with the face's box (mapped from the photo) is at
least 0.7. Also printed: how often the face-crop rule took the portrait
whole, with its second look (``VIDEO.crop_rule_check_side``) and without it.

    python benchmarks/portraits.py
    python benchmarks/portraits.py --widths 1.3,1.4,1.6,1.8,2.0,2.4,3.0 --sizes 128,192,256
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(os.path.dirname(ROOT), "shared", "samples")


def photo_paths():
    """The real photographs the portraits are cut from (those present)."""
    import matplotlib
    import skimage

    paths = [os.path.join(SAMPLES, n) for n in ("obama.jpg", "two_people.jpg", "lin-manuel-miranda.png")]
    paths += [os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png"),
              os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")]
    return [p for p in paths if os.path.isfile(p)]


def faces_of(gray, min_side=60):
    """HOG's face boxes (upsampled once) of a grey photo, at least ``min_side`` pixels."""
    import dlib

    rects = dlib.get_frontal_face_detector()(gray, 1)
    return [(r.left(), r.top(), r.width(), r.height()) for r in rects if r.width() >= min_side]


def portrait(gray, box, width, size, top=0.42):
    """A square ``width`` face boxes wide around ``box``, resized to ``size``, and the box in its pixels.

    Parameters
    ----------
    gray : (H, W) uint8 ndarray
    box : (x, y, w, h)
    width : float
        The square's side in face-box sides.
    size : int
        Side of the portrait in pixels.
    top : float
        Share of the square above the face's centre.

    Returns
    -------
    image : (size, size) uint8 ndarray
    box : (x, y, w, h) floats
    """
    import cv2

    x, y, w, h = box
    side = width * w
    x0, y0 = x + w / 2.0 - side / 2.0, y + h / 2.0 - top * side
    scale = size / side
    warp = np.float32([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
    image = cv2.warpAffine(gray, warp, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return image, ((x - x0) * scale, (y - y0) * scale, w * scale, h * scale)


def score(recognizer, cases):
    """Share of portraits whose first box overlaps the face's with IoU >= 0.7, and the mean IoU."""
    from fer_toolkit.features.faces import box_iou

    ious = []
    for image, truth in cases:
        boxes = recognizer.detect(image)
        ious.append(box_iou(boxes[0], truth) if boxes else 0.0)
    ious = np.asarray(ious)
    return float((ious >= 0.7).mean()), float(ious.mean())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--widths", default="1.3,1.4,1.6,1.8,2.0,2.4,3.0", help="square sides in face widths")
    p.add_argument("--sizes", default="128,192,256", help="portrait sides in pixels")
    p.add_argument("--top", type=float, default=0.42, help="share of the square above the face's centre")
    args = p.parse_args(argv)

    from fer_toolkit.features.faces import face_crop_box, to_gray
    from fer_toolkit.models.recognizer import Recognizer, load_image

    widths = [float(w) for w in args.widths.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    photos = {os.path.basename(p): to_gray(load_image(p)) for p in photo_paths()}
    faces = [(name, gray, box) for name, gray in photos.items() for box in faces_of(gray)]
    print(f"{len(faces)} faces in {len(photos)} photos: {', '.join(photos)}")
    recognizers = {"default": Recognizer(), "--no-crop-rule": Recognizer(crop_rule=False)}
    print("| width | size | faces | taken whole | without the second look | IoU >= 0.7 (default) | mean IoU | "
          "IoU >= 0.7 (--no-crop-rule) | mean IoU |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for width in widths:
        for size in sizes:
            cases = [portrait(gray, box, width, size, args.top) for _, gray, box in faces]
            whole = sum(face_crop_box(image) is not None for image, _ in cases)
            before = sum(face_crop_box(image, check_side=0) is not None for image, _ in cases)
            row = [score(r, cases) for r in recognizers.values()]
            print(f"| {width:.1f} | {size} | {len(cases)} | {whole} | {before} | {row[0][0]:.0%} | {row[0][1]:.2f} | "
                  f"{row[1][0]:.0%} | {row[1][1]:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
