"""Benchmark: end-to-end time per frame against the ``fer`` package, side by
side on the same frames in one run, and headless video throughput.

Frames are 640x480 with one face: frames of ``woman2.mp4`` scaled up, plus
``obama.jpg`` scaled down. Each frame goes through both pipelines in turn
(detection, landmarks, features, model for ours; detection and model for
``fer``), so machine noise hits both alike; fer-video's per-frame path
and ``fer`` are also timed in blocks (each over all the frames in turn), and
with ``--pace``, fer-video's per-frame path alone with a pause after each frame.
Then fer-video's whole path (faces detected every few frames and followed
in between) runs on a clip
of consecutive frames beside ``fer`` on the same frames, each pass in turn,
as the mean time a frame. ``fer`` is imported from a
folder of its own, installed without its dependencies:

    pip install fer --no-deps --target /tmp/ferpkg
    python benchmarks/predict.py --fer-path /tmp/ferpkg [--pace 0 25]
"""

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(os.path.dirname(ROOT), "shared", "samples")


def woman2_640x480(n, spread_over=0):
    """``n`` frames of ``woman2.mp4`` scaled to 640x480: the first ``n`` in a row (a clip to
    follow faces in), or every k-th frame, k being the video's length over ``spread_over``."""
    import cv2

    capture = cv2.VideoCapture(os.path.join(SAMPLES, "woman2.mp4"))
    step = max(1, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) // spread_over) if spread_over else 1
    frames = []
    i = 0
    while len(frames) < n:
        ok, frame = capture.read()
        if not ok:
            break
        if i % step == 0:
            frames.append(cv2.resize(frame, (640, 480), interpolation=cv2.INTER_LINEAR))
        i += 1
    return frames


def frames_640x480(n):
    """``n`` 640x480 BGR frames with one face: ``woman2.mp4``'s, spread over it, and ``obama.jpg``."""
    import cv2

    return woman2_640x480(n - 1, spread_over=n) + [letterbox(cv2.imread(os.path.join(SAMPLES, "obama.jpg")))]


def letterbox(image, width=640, height=480):
    """``image`` scaled to fit ``width`` x ``height``, aspect kept, on black."""
    import cv2

    scale = min(width / image.shape[1], height / image.shape[0])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
    canvas[y : y + image.shape[0], x : x + image.shape[1]] = image
    return canvas


def small_images(csv_path, n, theirs):
    """Time face images end to end (file bytes to probabilities), ours beside ``fer``'s."""
    import cv2

    from fer_toolkit.features.conversion import read_source, select_rows
    from fer_toolkit.models.recognizer import Recognizer

    _, text = read_source(csv_path)
    rows = select_rows(text, range(7), path=csv_path)
    faces = [np.array(t.split(), dtype=np.uint8).reshape(48, 48)
             for t, s in zip(rows["texts"], rows["splits"]) if s == "PrivateTest"][:n]
    sets = {"48x48": [cv2.imencode(".png", f)[1].tobytes() for f in faces],
            "144x144": [cv2.imencode(".png", cv2.resize(f, (144, 144), interpolation=cv2.INTER_CUBIC))[1].tobytes()
                        for f in faces]}
    ways = {"fer-toolkit --whole-image": Recognizer(whole_image=True), "fer-toolkit (photo detector)": Recognizer()}

    def timed(fn, items, repeats=3):
        fn(items[0])
        times, found = [], 0
        for _ in range(repeats):
            for item in items:
                t = time.perf_counter()
                found += bool(fn(item))
                times.append(time.perf_counter() - t)
        return np.median(times) * 1e3, found / len(times)

    decode = lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR)  # noqa: E731
    for size, items in sets.items():
        for name, recognizer in ways.items():
            ms, found = timed(recognizer.predict, items)
            print(f"{size} PNG, {name:<29} median {ms:5.2f} ms, a face in {found:.0%}")
        if theirs:
            ms, found = timed(lambda b: theirs.detect_emotions(decode(b)), items)
            print(f"{size} PNG, {'fer package':<29} median {ms:5.2f} ms, a face in {found:.0%}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=40, help="frames to time")
    p.add_argument("--repeats", type=int, default=3, help="passes over the frames")
    p.add_argument("--clip", type=int, default=100, help="consecutive frames of the clip that fer-video's path follows "
                                                         "faces in (0: skip that part)")
    p.add_argument("--fer-path", default="/tmp/ferpkg", help="folder holding the fer package (skipped if absent)")
    from fer_toolkit.features.faces import DETECTORS
    from fer_toolkit.parameters import VIDEO

    p.add_argument("--detector", default=VIDEO.detector, choices=DETECTORS, help="face detector (fer-video's default)")
    p.add_argument("--csv", default=os.environ.get("FER2013_CSV"),
                   help="fer2013.csv(.gz): also time small face images (48x48 and 144x144 PNG files)")
    p.add_argument("--faces", type=int, default=40, help="PrivateTest faces for the small images")
    p.add_argument("--pace", type=float, nargs="*", default=[], metavar="MS",
                   help="also time fer-video's per-frame path alone over the frames with MS milliseconds of "
                        "sleep after each frame (25: a 30 fps camera's pace; 0: back to back), once per value")
    args = p.parse_args(argv)

    from fer_toolkit.models.recognizer import Recognizer

    frames = frames_640x480(args.frames)
    ours = Recognizer(detector=args.detector, max_side=640)
    # Detection on the frame shrunk to 480 pixels: faster, finds faces from about 107 pixels.
    ours_480 = Recognizer(detector=args.detector, max_side=480)
    # The same without cutting the face again from its landmarks (VIDEO.reframe): what that costs a frame.
    ours_480_plain = Recognizer(detector=args.detector, max_side=480, reframe=0)
    # fer-video's settings: at 320 first (faces from about 160 pixels), at 480 where that finds none, and
    # its classifier (8-bit weights, VIDEO.video_quantized); the same with the float32 classifier beside it.
    ours_video = ours.with_detection(args.detector, VIDEO.video_max_side, VIDEO.video_coarse_side,
                                     quantized=VIDEO.video_quantized)
    ours_video_float = ours.with_detection(args.detector, VIDEO.video_max_side, VIDEO.video_coarse_side)
    theirs = None
    if os.path.isdir(os.path.join(args.fer_path, "fer")):
        sys.path.insert(0, args.fer_path)
        from fer.fer import FER

        theirs = FER()
    for frame in frames[:3]:  # warm-up: compile, caches
        ours.predict(frame)
        ours_480.predict(frame)
        ours_480_plain.predict(frame)
        ours_video.predict(frame)
        ours_video_float.predict(frame)
        if theirs:
            theirs.detect_emotions(frame)
    t_ours, t_480, t_plain, t_video, t_float, t_fer, found, found_480, found_video = [], [], [], [], [], [], 0, 0, 0
    for _ in range(args.repeats):
        for frame in frames:
            t = time.perf_counter()
            faces = ours.predict(frame)
            t_ours.append(time.perf_counter() - t)
            found += bool(faces)
            t = time.perf_counter()
            found_480 += bool(ours_480.predict(frame))
            t_480.append(time.perf_counter() - t)
            t = time.perf_counter()
            ours_480_plain.predict(frame)
            t_plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            found_video += bool(ours_video.predict(frame))
            t_video.append(time.perf_counter() - t)
            t = time.perf_counter()
            ours_video_float.predict(frame)
            t_float.append(time.perf_counter() - t)
            if theirs:
                t = time.perf_counter()
                theirs.detect_emotions(frame)
                t_fer.append(time.perf_counter() - t)
    print(f"machine: {os.cpu_count()} cores; {len(frames)} frames of 640x480 x {args.repeats} passes; "
          f"detector {args.detector}; a face found in {found / len(t_ours):.0%} of frames")
    print(f"fer-toolkit, detection at 640: median {np.median(t_ours) * 1e3:.1f} ms/frame "
          f"(p90 {np.percentile(t_ours, 90) * 1e3:.1f})")
    print(f"fer-toolkit, detection at 480: median {np.median(t_480) * 1e3:.1f} ms/frame "
          f"(p90 {np.percentile(t_480, 90) * 1e3:.1f}); a face found in {found_480 / len(t_480):.0%} of frames")
    print(f"fer-toolkit, the same without re-framing (--reframe 0 against {VIDEO.reframe}): median "
          f"{np.median(t_plain) * 1e3:.1f} ms/frame (p90 {np.percentile(t_plain, 90) * 1e3:.1f})")
    print(f"fer-toolkit, fer-video's detection ({VIDEO.video_coarse_side}, then {VIDEO.video_max_side}): median "
          f"{np.median(t_video) * 1e3:.1f} ms/frame (p90 {np.percentile(t_video, 90) * 1e3:.1f}); a face found in "
          f"{found_video / len(t_video):.0%} of frames; classifier {ours_video.classifier.backend}")
    print(f"fer-toolkit, the same with the float32 classifier: median {np.median(t_float) * 1e3:.1f} ms/frame "
          f"(p90 {np.percentile(t_float, 90) * 1e3:.1f})")
    print(f"classifier at 640 and 480: {ours.classifier.backend}")
    if theirs:
        print(f"fer package:                   median {np.median(t_fer) * 1e3:.1f} ms/frame "
              f"(p90 {np.percentile(t_fer, 90) * 1e3:.1f})")
        print(f"speed-up: {np.median(t_fer) / np.median(t_ours):.2f}x at 640, "
              f"{np.median(t_fer) / np.median(t_480):.2f}x at 480, "
              f"{np.median(t_fer) / np.median(t_video):.2f}x with fer-video's detection and classifier "
              f"({np.median(t_fer) / np.median(t_float):.2f}x with the float32 classifier)")

    # The same frames through fer-video's per-frame path and fer, each over all the frames in turn
    # (blocks alternating): frames back to back with no other pipeline between them, as fer-video
    # reads a file. Frame by frame in turn (above), each pipeline starts with caches the other one
    # filled, which slows ours more than fer's (BENCHMARKS.md, "Per-frame speed in blocks").
    if theirs:
        t_video_blocks, t_fer_blocks = [], []
        for _ in range(args.repeats):
            for pipeline, times in ((ours_video.predict, t_video_blocks), (theirs.detect_emotions, t_fer_blocks)):
                for frame in frames:
                    t = time.perf_counter()
                    pipeline(frame)
                    times.append(time.perf_counter() - t)
        print(f"in blocks of {len(frames)} frames: fer-video's detection and classifier median "
              f"{np.median(t_video_blocks) * 1e3:.1f} ms/frame, fer package {np.median(t_fer_blocks) * 1e3:.1f}; "
              f"speed-up {np.median(t_fer_blocks) / np.median(t_video_blocks):.2f}x")

    # fer-video's per-frame path alone, with a pause after each frame: a camera's pace leaves the
    # processor idle between frames (BENCHMARKS.md, "Per-frame speed in blocks").
    for pace in args.pace:
        ours_video.predict(frames[0])
        paced = []
        for _ in range(args.repeats):
            for frame in frames:
                t = time.perf_counter()
                ours_video.predict(frame)
                paced.append(time.perf_counter() - t)
                time.sleep(pace / 1000)
        print(f"fer-video's detection and classifier alone, {pace:g} ms of sleep after each frame: median "
              f"{np.median(paced) * 1e3:.2f} ms/frame")

    # fer-video's whole path on a clip: faces detected every VIDEO.detect_every frames and followed in
    # between (Recognizer.stream), against fer on the same consecutive frames; each pass alternates them.
    if args.clip:
        clip = woman2_640x480(args.clip)
        t_stream, t_fer_clip, found_stream = [], [], 0
        for _ in range(args.repeats):
            t = time.perf_counter()
            per_frame = list(ours.stream(iter(clip)))
            t_stream.append((time.perf_counter() - t) / len(clip))
            found_stream = np.mean([bool(f) for f in per_frame])
            if theirs:
                t = time.perf_counter()
                for frame in clip:
                    theirs.detect_emotions(frame)
                t_fer_clip.append((time.perf_counter() - t) / len(clip))
        print(f"fer-video's path (Recognizer.stream, detection every {VIDEO.detect_every} frames) on {len(clip)} "
              f"consecutive 640x480 frames: {np.median(t_stream) * 1e3:.1f} ms/frame on average (median of "
              f"{args.repeats} passes); a face in {found_stream:.0%} of frames")
        if theirs:
            print(f"fer package on the same frames: {np.median(t_fer_clip) * 1e3:.1f} ms/frame on average; speed-up "
                  f"{np.median(t_fer_clip) / np.median(t_stream):.2f}x")

    if args.csv:
        small_images(args.csv, args.faces, theirs)

    # Headless video throughput, as fer-video --no-display runs it.
    from fer_toolkit.scripts.video import build_parser, process

    # fer-video's own parser, so that every flag has its default.
    for flags in (["--detect-every", "1", "--coarse-side", "0"], ["--detect-every", "1"], []):
        video_args = build_parser().parse_args(["--video", os.path.join(SAMPLES, "woman2.mp4"), "--no-display",
                                                "--detector", args.detector, *flags])
        summary = process(video_args)
        print(f"fer-video --no-display {' '.join(flags) or '(defaults)'} on woman2.mp4 (596x336): "
              f"{summary['frames']} frames in {summary['seconds']:.1f} s, "
              f"{summary['frames'] / summary['seconds']:.1f} frames/s, faces detected on {summary['detections']}")


if __name__ == "__main__":
    main()
