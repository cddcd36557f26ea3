"""Benchmark: where the time of one prediction goes, stage by stage, and the
classifier call's alternatives.

Stages of ``Recognizer.predict`` on 640x480 frames with one face (the frames
of ``benchmarks/predict.py``), on a 144x144 face photo and on a 48x48 face
image: decode (a JPEG/PNG file), grey conversion, face detection, crop,
landmarks, HOG, standardisation, the classifier call, drawing. Each stage is
timed on its own over the same inputs, medians over all of them.

The classifier call is then timed every way this machine offers, for batches
of 1 and 8: Keras ``predict_on_batch`` (the evaluation path), the Keras
model called directly, a traced ``tf.function`` with a fixed signature, the
same with XLA, the model converted to LiteRT (TensorFlow Lite with
XNNPACK), and that with its weights quantised to 8 bits (video's), with the
largest difference of each from ``predict_on_batch``.

    python benchmarks/stages.py
"""

import argparse
import os
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(os.path.dirname(ROOT), "shared", "samples")


def median_ms(fn, inputs, repeats=3):
    """Median milliseconds of ``fn(x)`` over ``inputs``, ``repeats`` passes (one untimed warm-up call)."""
    fn(inputs[0])
    times = []
    for _ in range(repeats):
        for x in inputs:
            t = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def stage_table(recognizer, images, encoded, label):
    """Per-stage medians of the photo path for a set of images; returns rows."""
    from fer_toolkit.features.faces import to_gray
    from fer_toolkit.models.draw import annotate

    spec = recognizer.spec
    grays = [to_gray(im) for im in images]
    # The face-crop rule's look first (photos), then the search where it does not hold.
    detect = recognizer.locate if recognizer.whole_image else recognizer._find
    boxes = [detect(g)[0] if recognizer.whole_image else detect(g) for g in grays]
    with_face = [i for i, b in enumerate(boxes) if b]
    grays_f = [grays[i] for i in with_face]
    crops = [spec.crop(grays[i], boxes[i][:1]) for i in with_face]
    arrays = [spec.extract(c, landmarks=True, hog=spec.needs_hog) for c in crops]
    features = [spec.stack({**a, "images": c}) for a, c in zip(arrays, crops)]
    faces = [recognizer.predict(im) for im in images]
    classifier = recognizer.classifier
    rows = [
        ("decode", median_ms(lambda d: recognizer.decode(d), encoded)),
        ("decode to grey (as predict does)", median_ms(lambda d: recognizer.decode(d, grey=True), encoded)),
        ("grey", median_ms(to_gray, images)),
        ("detect" + (" (none: the whole image)" if recognizer.whole_image else ""), median_ms(detect, grays)),
        ("crop", median_ms(lambda gb: spec.crop(*gb), list(zip(grays_f, [boxes[i][:1] for i in with_face])))),
        ("landmarks", median_ms(lambda c: spec.extract(c, landmarks=True, hog=False), crops)),
        ("HOG", median_ms(lambda c: spec.extract(c, landmarks=False, hog=spec.needs_hog), crops)),
        ("stack", median_ms(lambda ac: spec.stack({**ac[0], "images": ac[1]}), list(zip(arrays, crops)))),
        (f"classifier ({classifier.backend})", median_ms(lambda cf: classifier.predict_proba(*cf),
                                                         list(zip(crops, features)))),
        ("draw", median_ms(lambda imf: annotate(*imf), list(zip(images, faces)))),
        ("end to end (decode + predict)", median_ms(lambda d: recognizer.predict(d), encoded)),
    ]
    found = sum(bool(b) for b in boxes) / len(boxes)
    print(f"\n{label}: {len(images)} images, a face found in {found:.0%}")
    for name, ms in rows:
        print(f"  {name:<32} {ms:7.2f} ms")
    return rows


def classifier_table(bundle, inputs_by_batch):
    """Median milliseconds and largest difference of each way to call the classifier."""
    from fer_toolkit.models.backend import import_tensorflow
    from fer_toolkit.models.fast import ClassifierRunner

    tf = import_tensorflow()
    model = bundle.model
    specs = {k: tf.TensorSpec((None, *v.shape[1:]), tf.float32) for k, v in inputs_by_batch[1][0].items()}
    traced = tf.function(lambda x: model(x, training=False), input_signature=[specs], reduce_retracing=True)
    xla = tf.function(lambda x: model(x, training=False), input_signature=[specs], jit_compile=True)
    runner = ClassifierRunner(bundle, max_batch=64)
    quantized = ClassifierRunner(bundle, max_batch=64, quantized=True)
    ways = {
        "predict_on_batch": lambda x: np.asarray(model.predict_on_batch(x)),
        "model(x)": lambda x: np.asarray(model(x, training=False)),
        "tf.function": lambda x: traced(x).numpy(),
        "tf.function + XLA": lambda x: xla(x).numpy(),
        "LiteRT (XNNPACK)": runner.litert,
        "LiteRT, 8-bit weights": quantized.litert,
    }
    print("\nclassifier call (median ms; largest |difference| from predict_on_batch)")
    for batch, inputs in inputs_by_batch.items():
        reference = [np.asarray(model.predict_on_batch(x)) for x in inputs]
        for name, fn in ways.items():
            try:
                ms = median_ms(fn, inputs)
                diff = max(float(np.abs(fn(x) - r).max()) for x, r in zip(inputs, reference))
            except Exception as e:  # a way this machine cannot run
                print(f"  batch {batch:<3} {name:<20} unavailable ({type(e).__name__}: {str(e)[:80]})")
                continue
            print(f"  batch {batch:<3} {name:<20} {ms:7.2f} ms   {diff:.1e}")


def encode(image, ext):
    """An image's file bytes."""
    import cv2

    ok, data = cv2.imencode(ext, image)
    return data.tobytes()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=20, help="640x480 frames")
    p.add_argument("--faces", type=int, default=40, help="FER-2013 PrivateTest faces for the small images")
    p.add_argument("--csv", default=os.environ.get("FER2013_CSV"), help="fer2013.csv(.gz) for the small images")
    p.add_argument("--keras", action="store_true", help="stage the Keras classifier path (before LiteRT)")
    args = p.parse_args()

    import sys

    import cv2

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from predict import frames_640x480

    from fer_toolkit.features.conversion import read_source, select_rows
    from fer_toolkit.models.bundle import model_inputs
    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.parameters import VIDEO

    fast = not args.keras
    print(f"machine: {os.cpu_count()} cores; classifier: {'LiteRT' if fast else 'Keras predict_on_batch'}")
    frames = frames_640x480(args.frames)
    video = Recognizer(fast=fast).with_detection(VIDEO.detector, VIDEO.video_max_side,
                                                 VIDEO.video_coarse_side if fast else 0,
                                                 quantized=VIDEO.video_quantized)  # fer-video's settings
    stage_table(video, frames, [encode(f, ".jpg") for f in frames],
                f"640x480 JPEG frames, one face, fer-video's detection (dlib at "
                f"{f'{VIDEO.video_coarse_side}, then ' if fast else ''}{VIDEO.video_max_side})")
    if args.csv:
        _, text = read_source(args.csv)
        rows = select_rows(text, range(7), path=args.csv)
        faces = [np.array(t.split(), dtype=np.uint8).reshape(48, 48)
                 for t, s in zip(rows["texts"], rows["splits"]) if s == "PrivateTest"][: args.faces]
        photos = [cv2.resize(f, (144, 144), interpolation=cv2.INTER_CUBIC) for f in faces]
        stage_table(Recognizer(fast=fast), photos, [encode(f, ".png") for f in photos],
                    "144x144 PNG face photos, the photo detector (the face-crop rule, then dlib, then its CNN "
                    "where dlib finds nothing)")
        whole = Recognizer(whole_image=True, fast=fast)
        stage_table(whole, faces, [encode(f, ".png") for f in faces], "48x48 PNG faces, --whole-image")
    if fast:
        bundle = video.bundle
        spec = video.spec
        crops = [spec.crop_whole(f) for f in (faces if args.csv else [cv2.cvtColor(frames[0], cv2.COLOR_BGR2GRAY)])]
        stacked = np.concatenate(crops)
        arrays = spec.extract(stacked)
        inputs = model_inputs(stacked, bundle.standardizer(spec.stack({**arrays, "images": stacked})))
        by_batch = {b: [{k: v[i : i + b] for k, v in inputs.items()} for i in range(0, len(stacked) - b + 1, b)]
                    for b in (1, 8)}
        classifier_table(bundle, {b: x for b, x in by_batch.items() if x})


if __name__ == "__main__":
    main()
