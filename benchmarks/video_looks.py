"""Screen: MTCNN instead of HOG for video's coarse look (the per-frame detection of ``fer-video``).

``fer-video`` detects faces by HOG on the frame shrunk to ``VIDEO.video_coarse_side`` (320), each
face found there searched again by HOG around itself at a finer scale (``features.faces._refine``),
and HOG over the frame at 480 where the coarse look finds nothing. MTCNN on LiteRT
(``models/mtcnn.py``) is cheap on a small image and finds smaller faces there than HOG. This
compares, per frame and side by side on the same frames:

- ``HOG coarse``: today's ``detect_faces(gray, "dlib", 480, coarse_side=320)``;
- ``MTCNN coarse (faces from N px)``: MTCNN on the frame shrunk to 320 (faces from N pixels of the
  frame), its boxes framed as HOG frames faces, then the same refinement by HOG and the same
  fallback to HOG at 480 where refinement loses a face or MTCNN finds none.

Frames: every frame of ``woman2.mp4`` at 640x480 (``benchmarks/predict.py``'s scaling); a frame
counts as found when any face is returned. Times are medians a frame (detection only).

    python benchmarks/video_looks.py
"""

import argparse
import os
import statistics
import sys
import time

import cv2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def mtcnn_coarse(detector, min_face, coarse_side, max_side):
    """A detection function: MTCNN on the frame shrunk to ``coarse_side``, then HOG's refinement."""
    from fer_toolkit.features.faces import _refine, detect_faces
    from fer_toolkit.models.mtcnn import as_hog_box

    def detect(gray):
        k = coarse_side / max(gray.shape)
        small = cv2.resize(gray, (round(gray.shape[1] * k), round(gray.shape[0] * k)), interpolation=cv2.INTER_AREA)
        boxes = [as_hog_box(*(v / k for v in box)) for box, _ in detector(small, max(12.0, min_face * k), 0)]
        refined = _refine(gray, boxes, "dlib", 0) if boxes else []
        return refined or detect_faces(gray, "dlib", max_side)

    return detect


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=0, help="the first N frames of woman2.mp4 (0: all)")
    p.add_argument("--min-faces", default="40,60,80", help="MTCNN's smallest faces to try, in frame pixels")
    args = p.parse_args(argv)

    from predict import woman2_640x480

    from fer_toolkit.features.faces import detect_faces
    from fer_toolkit.models.mtcnn import MTCNN
    from fer_toolkit.parameters import VIDEO

    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in woman2_640x480(args.frames or 10 ** 6)]
    detector = MTCNN()
    detector.warm_up()
    looks = [("HOG coarse (today)", lambda g: detect_faces(g, "dlib", VIDEO.video_max_side,
                                                          coarse_side=VIDEO.video_coarse_side))]
    looks += [(f"MTCNN coarse (faces from {m} px)", mtcnn_coarse(detector, int(m), VIDEO.video_coarse_side,
                                                                  VIDEO.video_max_side))
              for m in args.min_faces.split(",")]
    times = {name: [] for name, _ in looks}
    found = {name: 0 for name, _ in looks}
    for gray in frames:  # each frame through every look in turn: machine noise hits all alike
        for name, look in looks:
            started = time.perf_counter()
            faces = look(gray)
            times[name].append((time.perf_counter() - started) * 1000)
            found[name] += bool(faces)
    print(f"{len(frames)} frames of woman2.mp4 at 640x480; {os.cpu_count()} cores")
    print("| coarse look | frames with a face | median ms a frame |")
    print("| --- | ---: | ---: |")
    for name, _ in looks:
        print(f"| {name} | {found[name] / len(frames):.1%} | {statistics.median(times[name]):.2f} |")


if __name__ == "__main__":
    main()
