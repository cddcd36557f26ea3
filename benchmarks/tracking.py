"""Benchmark: fer-video's face detection every N-th frame, against detecting on
every frame, on the same video.

Each setting runs the video through :class:`models.video.FaceTracker` as
``fer-video --no-display`` does (decode, detect or follow, recognise), and is
compared with detection on every frame at 480 pixels (the previous default):
the share of frames with a face, the median overlap (IoU) of the face boxes,
and the share of frames with the same label.

    python benchmarks/tracking.py --video ../shared/samples/woman2.mp4

With ``--photos DIR`` (a labelled folder tree, ``DIR/<class>/<image>``), each photo
is instead a still video of ``--frames`` frames through :meth:`Recognizer.stream`
(fer-video's settings): frame 1 is a detection frame, the others follow the face,
each cut from the previous frame's landmarks at FER-2013's framing
(``VIDEO.track_reframe``) or around its box (``--no-track-reframe`` for
comparison). Accuracy per frame, the photo's largest face, misses counted wrong:

    python benchmarks/tracking.py --photos ../shared/photos/muxspace --model ferplus
"""

import argparse
import os
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(os.path.dirname(ROOT), "shared", "samples")


def run(path, recognizer, detect_every, track_reframe=True):
    """Faces per frame, seconds, detections."""
    import cv2

    from fer_toolkit.models.video import FaceTracker

    tracker = FaceTracker(recognizer, detect_every, reframe=track_reframe)
    capture = cv2.VideoCapture(path)
    faces = []
    started = time.perf_counter()
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        faces.append(tracker.predict(frame))
    seconds = time.perf_counter() - started
    capture.release()
    return faces, seconds, tracker.detections


def still_videos(folder, model, frames, track_reframe, coarse_refine):
    """Per frame of each labelled photo taken as a still video: accuracy with misses counted wrong."""
    import cv2

    from fer_toolkit.features.folders import labelled_images
    from fer_toolkit.models.recognizer import Recognizer

    recognizer = Recognizer(model)
    correct, images, found = np.zeros(frames), 0, 0
    for path, label in labelled_images(folder, recognizer.classes):
        image = cv2.imread(path)
        if image is None or label is None:
            continue
        images += 1
        per_frame = list(recognizer.stream([image] * frames, track_reframe=track_reframe,
                                           coarse_refine=coarse_refine))
        found += bool(per_frame[0])
        correct += [bool(f) and f[0]["label"] == recognizer.classes[label] for f in per_frame]
    return correct / images, found / images, images


def main():
    from fer_toolkit.features.faces import COARSE_REFINES
    from fer_toolkit.parameters import VIDEO

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", default=os.path.join(SAMPLES, "woman2.mp4"))
    p.add_argument("--every", default="1,3,5,10", help="detection intervals to compare")
    p.add_argument("--photos", help="a labelled folder tree: each photo as a still video (see above)")
    p.add_argument("--model", help="--photos: a shipped model's name or a bundle folder (default: the default model)")
    p.add_argument("--frames", type=int, default=5, help="--photos: frames per still video")
    p.add_argument("--speed-passes", type=int, default=0,
                   help="time fer-video's settings with and without --track-reframe in this many alternating "
                        "passes over --video each, and print their medians (0: the table instead)")
    p.add_argument("--track-reframe", action=argparse.BooleanOptionalAction, default=True,
                   help="--photos: followed faces cut at FER-2013's framing from the last landmarks")
    p.add_argument("--coarse-refine", default=VIDEO.video_mtcnn_refine, choices=COARSE_REFINES,
                   help="--photos: fer-video's --coarse-refine")
    args = p.parse_args()
    if args.photos:
        accuracy, found, images = still_videos(args.photos, args.model, args.frames, args.track_reframe,
                                               args.coarse_refine)
        print(f"{args.photos}: {images} photos, model {args.model or 'default'}, faces found {found:.2%}, "
              f"track_reframe {args.track_reframe}, coarse_refine {args.coarse_refine}")
        print("accuracy per frame (1: detection): " + ", ".join(f"{a:.2%}" for a in accuracy))
        return

    from fer_toolkit.features.faces import box_iou
    from fer_toolkit.models.recognizer import Recognizer

    if args.speed_passes:
        video = Recognizer().with_detection(VIDEO.detector, VIDEO.video_max_side, VIDEO.video_coarse_side,
                                            quantized=VIDEO.video_quantized)
        run(args.video, video, VIDEO.detect_every)  # warm-up
        times = {True: [], False: []}
        for _ in range(args.speed_passes):
            for reframe in (True, False):
                faces, secs, _ = run(args.video, video, VIDEO.detect_every, reframe)
                times[reframe].append(secs / len(faces) * 1e3)
        for reframe in (True, False):
            print(f"--{'' if reframe else 'no-'}track-reframe: median {np.median(times[reframe]):.2f} ms/frame "
                  f"(passes: {', '.join(f'{t:.2f}' for t in times[reframe])})")
        return
    # Video's detection frames are not re-framed (VIDEO.video_reframe), unlike photos.
    plain = Recognizer(detector=VIDEO.detector, max_side=VIDEO.video_max_side, reframe=VIDEO.video_reframe)
    coarse = Recognizer(detector=VIDEO.detector, max_side=VIDEO.video_max_side, coarse_side=VIDEO.video_coarse_side,
                        reframe=VIDEO.video_reframe)
    run(args.video, plain, 1)  # warm-up
    reference, seconds, _ = run(args.video, plain, 1)
    n = len(reference)
    print(f"machine: {os.cpu_count()} cores; {os.path.basename(args.video)}, {n} frames")
    print(f"{'setting':<38} {'frames/s':>8} {'detections':>10} {'with a face':>11} {'box IoU':>8} {'same label':>10}")

    def report(name, faces, secs, detections):
        """One row: speed, detections, found share and agreement with the reference."""
        pairs = [(a[0], b[0]) for a, b in zip(reference, faces) if a and b]
        overlap = np.median([box_iou(a["box"], b["box"]) for a, b in pairs]) if pairs else 0.0
        same = np.mean([a["label"] == b["label"] for a, b in pairs]) if pairs else 0.0
        found = np.mean([bool(f) for f in faces])
        print(f"{name:<38} {n / secs:8.1f} {detections:10d} {found:11.1%} {overlap:8.3f} {same:10.1%}")

    report(f"every frame at {VIDEO.video_max_side} (reference)", reference, seconds, n)
    # How much a legitimate change of detection scale alone moves boxes and labels.
    report("every frame at 640", *run(args.video, Recognizer(detector=VIDEO.detector, max_side=640,
                                                            reframe=VIDEO.video_reframe), 1))
    for every in (int(e) for e in args.every.split(",")):
        faces, secs, detections = run(args.video, coarse, every)
        report(f"{VIDEO.video_coarse_side} then {VIDEO.video_max_side}, --detect-every {every}", faces, secs,
               detections)
        if every > 1:
            faces, secs, detections = run(args.video, coarse, every, track_reframe=False)
            report("  the same, --no-track-reframe", faces, secs, detections)


if __name__ == "__main__":
    main()
