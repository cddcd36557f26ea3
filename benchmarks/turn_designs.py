"""Turned-look designs compared: which look at the turned photo, at which angles (a screen).

For each design, on the scene photos an evaluation missed (``benchmarks/photos.py``'s
``eval-scene640``, made with ``--turns none``): the faces found turned and how many the
default model gets right (cut as the pipeline cuts them, from the turned photo); on the
face-free scenes (``background640/none``): the median and 90th-percentile time of the
turned looks alone (both turns where neither finds a face) and the photos with a false face.
A design is a look and its angles, tried in turn:

- ``yunet S``: YuNet's best two boxes scoring at least S, each checked by the CNN
  (:func:`features.faces.yunet_look` without its slower looks; the built-in design is S = 0.5);
- ``hog+yunet S``: HOG first, then that;
- ``whole search``: the photo search itself (HOG, MTCNN, YuNet and the slow looks when YuNet
  is unsure), turned.

    python benchmarks/turn_designs.py --out /tmp/pub-scenes --backgrounds 200
"""

import argparse
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from photos import read_predictions  # noqa: E402


def designs(recognizer):
    """The designs compared: name to (look, angles)."""
    from fer_toolkit.features.faces import _rects, yunet_look
    from fer_toolkit.parameters import VIDEO

    def hog(g):
        return _rects(g, "dlib", VIDEO.upsample, VIDEO.detect_max_side, VIDEO.detect_min_side)

    def yunet(score):
        return lambda g: yunet_look(g, confirm_score=score)[0]

    return {
        "whole search, -30/30": (recognizer._detect, (-30, 30)),
        "yunet 0.2, -30/30": (yunet(0.2), (-30, 30)),
        "yunet 0.4, -30/30": (yunet(0.4), (-30, 30)),
        "yunet 0.5, -30/30": (yunet(0.5), (-30, 30)),
        "yunet 0.5, -45/45": (yunet(0.5), (-45, 45)),
        "yunet 0.5, -30/30/-60/60": (yunet(0.5), (-30, 30, -60, 60)),
        "yunet 0.5, -30/30/-90/90": (yunet(0.5), (-30, 30, -90, 90)),
        "hog+yunet 0.5, -30/30": (lambda g: hog(g) or yunet(0.5)(g), (-30, 30)),
    }


def first_turn(look, angles, gray):
    """The turned photo and boxes of the first angle whose look finds a face, else (None, [])."""
    from fer_toolkit.features.faces import turn_image

    for angle in angles:
        turned, _ = turn_image(gray, angle)
        boxes = look(turned)
        if boxes:
            return turned, boxes
    return None, []


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="benchmarks/photos.py's output folder (scene640, background640)")
    p.add_argument("--backgrounds", type=int, default=200, help="face-free scenes timed, at most")
    p.add_argument("--model", default=None, help="the model that answers (default: the default model)")
    args = p.parse_args(argv)

    from fer_toolkit.models.recognizer import Recognizer

    recognizer = Recognizer(args.model, turns=())
    missed = [(r["image"], r["label"]) for r in read_predictions(args.out, "eval-scene640") if r["faces"] == "0"]
    scenes = [cv2.imread(os.path.join(args.out, "scene640", name), cv2.IMREAD_GRAYSCALE) for name, _ in missed]
    folder = os.path.join(args.out, "background640", "none")
    empty = [cv2.imread(os.path.join(folder, f), cv2.IMREAD_GRAYSCALE)
             for f in sorted(os.listdir(folder))[: args.backgrounds]]
    print(f"{len(missed)} scene faces missed upright, {len(empty)} face-free scenes")
    for name, (look, angles) in designs(recognizer).items():
        found = right = 0
        for gray, (_, label) in zip(scenes, missed):
            turned, boxes = first_turn(look, angles, gray)
            if boxes:
                found += 1
                crops = recognizer.locate(turned, boxes)[2]
                probabilities, _ = recognizer.predict_crops(crops[:1])
                right += recognizer.classes[int(probabilities[0].argmax())] == label
        times, false = [], 0
        for gray in empty:
            start = time.perf_counter()
            false += bool(first_turn(look, angles, gray)[1])
            times.append(time.perf_counter() - start)
        print(f"{name}: {found} found, {right} right; face-free median {np.median(times) * 1e3:.0f} ms, "
              f"90th percentile {np.percentile(times, 90) * 1e3:.0f} ms, {false} with a false face", flush=True)


if __name__ == "__main__":
    main()
