"""Measure how FER-2013 frames a face, to crop new photos the same way.

dlib's frontal face detector (the one the predictor uses) runs on FER-2013
Training faces scaled up 4x; for each face it finds, the box's size and centre
are expressed in units of the 48-pixel frame. The medians say how large a
crop around a detected box must be, and where its centre lies, for the crop
to frame the face as FER-2013 does. The results go into parameters.py
(``VideoPredictor.crop_scale``, ``crop_shift_x``, ``crop_shift_y``).

    python benchmarks/face_margin.py --data data/features --limit 3000
"""

import argparse
import os

import numpy as np



def measure(images, scale=4):
    """Boxes of the detected faces, in frame units: (x0, y0, x1, y1)."""
    import cv2
    import dlib

    detector = dlib.get_frontal_face_detector()
    boxes = []
    for image in images:
        big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        found = detector(big, 0)
        if len(found) == 1:
            r = found[0]
            boxes.append((r.left(), r.top(), r.right() + 1, r.bottom() + 1))
    return np.asarray(boxes, dtype=np.float64) / (48 * scale)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/features", help="output folder of fer-convert")
    p.add_argument("--limit", type=int, default=3000, help="Training faces to measure")
    args = p.parse_args(argv)
    images = np.load(os.path.join(args.data, "Training", "images.npy"), mmap_mode="r")[: args.limit]
    boxes = measure(np.asarray(images))
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    print(f"faces detected: {len(boxes)} of {len(images)}")
    print(f"box side / frame side: median {np.median(width):.3f} (IQR {np.percentile(width, 25):.3f}-"
          f"{np.percentile(width, 75):.3f}), height {np.median(height):.3f}")
    print(f"box centre in the frame: x {np.median(cx):.3f}, y {np.median(cy):.3f}")
    scale = 1 / np.median(width)
    print(f"=> crop side = {scale:.2f} x box side; crop centre = box centre + "
          f"({(0.5 - np.median(cx)) * scale:+.3f}, {(0.5 - np.median(cy)) * scale:+.3f}) x box side")


if __name__ == "__main__":
    main()
