"""fer-video: real-time expression recognition on a webcam or a video file."""

import argparse
import csv
import os
import sys
import time

if __package__ in (None, ""):  # run as ``python scripts/video.py``: run the installed package's copy
    import runpy

    runpy.run_module("fer_toolkit.scripts.video", run_name="__main__")
    sys.exit(0)

from ..models.video import VideoError
from ..parameters import VIDEO

from ._cli import (add_coarse_flag, add_detector_flags, add_model_flag, add_tta_flags, check_coarse_side, fail,
                   load_keras, parser, run)

PROG = "fer-video"
WINDOW = "fer-video (press q to quit)"


def build_parser():
    from ..features.faces import COARSE_REFINES

    p = parser(
        PROG,
        "Recognise facial expressions in real time on a webcam or a video file, in a window with boxes, "
        "labels and confidences (press q to quit). --output writes an annotated video and --csv one row per "
        "face and frame; with --no-display nothing is shown (for servers and headless OpenCV builds).",
        epilog="examples: fer-video --camera 0 | fer-video --video clip.mp4 --output annotated.mp4 "
               "--csv per_frame.csv --no-display",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--camera", type=int, help=f"camera index (default {VIDEO.camera} when no --video)")
    source.add_argument("--video", help="video file to read instead of a camera")
    add_model_flag(p)
    p.add_argument("--output", help="write the annotated video here (.mp4 or .avi)")
    p.add_argument("--csv", help="write frame, time, face, box, label and every probability per face here")
    p.add_argument("--no-display", action="store_true", help="show no window")
    p.add_argument("--time-between-predictions", type=float, default=VIDEO.time_between_predictions,
                   help="seconds between two predictions; frames in between reuse the last result (0: every frame)")
    p.add_argument("--show-confidence", action=argparse.BooleanOptionalAction,
                   default=VIDEO.show_confidence, help="draw the confidence next to the label")
    p.add_argument("--show-probabilities", action="store_true", help="draw every class's probability")
    p.add_argument("--print-emotions", action="store_true", default=VIDEO.print_emotions,
                   help="print each prediction on the terminal")
    add_detector_flags(p, VIDEO.detector)
    add_tta_flags(p)
    p.add_argument("--upsample", type=int, default=VIDEO.upsample, help="dlib upsampling (finds smaller faces)")
    p.add_argument("--detect-max-side", type=int, default=VIDEO.video_max_side,
                   help="frames larger than this are shrunk for face detection (smaller is faster; dlib finds "
                        "faces of about 80 pixels and up at the shrunk size)")
    add_coarse_flag(p, VIDEO.video_coarse_side, "frame")
    p.add_argument("--coarse-refine", choices=COARSE_REFINES, default=VIDEO.video_mtcnn_refine,
                   help="a face that MTCNN's coarse look finds and HOG does not find again around it (blurred, "
                        "turned, dim): keep (MTCNN's box, framed as HOG frames faces), search (HOG over the frame "
                        "at --detect-max-side instead) or none (every face in MTCNN's box, not searched again: "
                        "faster, framed less exactly)")
    p.add_argument("--detect-every", type=int, default=VIDEO.detect_every,
                   help="detect faces on every N-th frame and follow them by their landmarks in between (a lost "
                        "face is detected again on the next frame; 1: detect on every frame)")
    p.add_argument("--track-reframe", action=argparse.BooleanOptionalAction, default=VIDEO.track_reframe,
                   help="cut each followed face at FER-2013's framing around the previous frame's landmarks, as "
                        "photos are re-framed, without an extra landmark fit; --no-track-reframe: around its box")
    p.add_argument("--max-frames", type=int, default=VIDEO.max_frames, help="stop after this many frames (0: until the end)")
    p.add_argument("--quantized", action=argparse.BooleanOptionalAction, default=VIDEO.video_quantized,
                   help="run the classifier with its weights quantised to 8 bits (three to four times as fast; "
                        "the label differs from the float32 model's on at most 0.3%% of test faces); --no-quantized: float32, "
                        "as fer-predict and fer-evaluate")
    return p


def check_display():
    """Raise a :class:`VideoError` when no window can be opened."""
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise VideoError("no display to show a window on: run with --no-display (and --output/--csv), "
                         "or set DISPLAY")
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error:
        raise VideoError("this OpenCV build cannot open windows (opencv-python-headless?): run with "
                         "--no-display and --output, or install opencv-python") from None


def process(args, out=sys.stdout):
    """Run the video loop on :meth:`Recognizer.stream`; returns a summary dict."""
    import cv2

    from ..models.draw import annotate
    from ..models.recognizer import Recognizer

    display = not args.no_display
    if display:
        check_display()
    recognizer = Recognizer(args.model, tta=args.tta, tta_shift=args.tta_shift)
    source = args.video if args.video else (VIDEO.camera if args.camera is None else args.camera)
    stream = recognizer.stream(source, detect_every=args.detect_every, detector=args.detector,
                               max_side=args.detect_max_side, coarse_side=args.coarse_side, upsample=args.upsample,
                               time_between_predictions=args.time_between_predictions, with_frames=True,
                               quantized=args.quantized, track_reframe=args.track_reframe,
                               coarse_refine=args.coarse_refine)
    writer = rows = csv_file = None
    started = time.perf_counter()
    quit_by_key = False
    try:
        if args.csv:
            csv_file = open(args.csv, "w", newline="")
            rows = csv.writer(csv_file)
            rows.writerow(["frame", "time", "face", "x", "y", "width", "height", "label", "confidence",
                           *recognizer.classes])
        for frame, faces in stream:
            index, t = stream.frames - 1, stream.time
            if args.print_emotions and stream.predicted:
                print(f"{t:8.2f}s  " + ("  ".join(f"{f['label']} {f['confidence']:.0%}" for f in faces) or "no face"),
                      file=out)
            if rows is not None:
                for i, f in enumerate(faces):
                    rows.writerow([index, f"{t:.3f}", i + 1, *f["box"], f["label"], f"{f['confidence']:.4f}",
                                   *(f"{f['probabilities'][c]:.4f}" for c in recognizer.classes)])
            if writer is not None or display or args.output:
                shown = annotate(frame, faces, args.show_confidence, args.show_probabilities)
                if args.output and writer is None:
                    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if args.output.lower().endswith(".mp4") else "MJPG"))
                    writer = cv2.VideoWriter(args.output, fourcc, stream.fps or 30.0, (shown.shape[1], shown.shape[0]))
                    if not writer.isOpened():
                        raise VideoError(f"{args.output}: cannot write a video there")
                if writer is not None:
                    writer.write(shown)
                if display:
                    cv2.imshow(WINDOW, shown)
                    if cv2.waitKey(1) & 0xFF == ord("q"):
                        quit_by_key = True
                        break
            if args.max_frames and stream.frames >= args.max_frames:
                break
    finally:
        stream.close()
        if writer is not None:
            writer.release()
        if csv_file is not None:
            csv_file.close()
        if display:
            cv2.destroyAllWindows()
    seconds = time.perf_counter() - started
    return {"frames": stream.frames, "predictions": stream.predictions, "seconds": seconds, "quit": quit_by_key,
            "detections": stream.detections, "dropped": stream.dropped}


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.camera is not None and args.camera < 0:  # OpenCV may crash the process on a negative index
        fail(PROG, f"--camera {args.camera}: a camera index is 0 or more")
    if args.detect_every < 1:
        fail(PROG, f"--detect-every must be 1 or more, got {args.detect_every}")
    check_coarse_side(PROG, args.coarse_side)

    def body():
        from ..models.bundle import read_meta

        if args.video:  # bad input answers before the model loads
            if not os.path.exists(args.video):
                raise VideoError(f"{args.video}: no such file")
            if os.path.isdir(args.video):
                raise VideoError(f"{args.video}: is a folder, not a video file")
            open(args.video, "rb").close()  # missing or unreadable: one line from run()
        for path in args.model or ():
            read_meta(path)
        load_keras(PROG)
        summary = process(args)
        rate = summary["frames"] / summary["seconds"] if summary["seconds"] else 0.0
        dropped = f", {summary['dropped']} camera frames dropped to keep up" if summary["dropped"] else ""
        print(f"{summary['frames']} frames ({summary['predictions']} predictions, faces detected on "
              f"{summary['detections']}) in {summary['seconds']:.1f} s, {rate:.1f} frames/s{dropped}"
              + ("; stopped with q" if summary["quit"] else ""), file=sys.stderr)
        return 0

    from ..features.faces import ImageError
    from ..models.bundle import BundleError

    return run(PROG, body, (VideoError, ImageError, BundleError))


if __name__ == "__main__":
    sys.exit(main())
