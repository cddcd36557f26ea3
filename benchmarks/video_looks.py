"""Screen: MTCNN or HOG for video's coarse look (the per-frame detection of ``fer-video``).

``fer-video`` detects faces by HOG on the frame shrunk to ``VIDEO.video_coarse_side`` (320), each
face found there searched again by HOG around itself at a finer scale (``features.faces._refine``),
and HOG over the frame at 480 where the coarse look finds nothing. MTCNN on LiteRT
(``models/mtcnn.py``) is cheap on a small image and finds smaller faces there than HOG. This
compares, per frame and side by side on the same frames:

- ``HOG coarse``: ``detect_faces(gray, "dlib", 480, coarse_side=320)`` (before
  ``VIDEO.video_coarse_mtcnn``);
- ``MTCNN coarse (faces from f of the frame)``: ``models.mtcnn.coarse_faces``, MTCNN on the frame
  shrunk to 320, its boxes framed as HOG frames faces, then the same refinement by HOG and the
  same fallback to HOG at 480 where refinement loses a face or MTCNN finds none;
- ``MTCNN coarse, coarse_refine keep / none``: the same, a box that HOG does not find again kept
  as MTCNN framed it (``VIDEO.video_mtcnn_refine``'s default), or every box taken unrefined.

Frames: every frame of ``woman2.mp4`` at 640x480 (``benchmarks/predict.py``'s scaling); a frame
counts as found when any face is returned. Times are medians a frame (detection only).

    python benchmarks/video_looks.py
    python benchmarks/video_looks.py --scenes /tmp/fer-photos/scene640   # video's answers with each look
"""

import argparse
import os
import statistics
import sys
import time

import cv2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def mtcnn_coarse(detector, smallest, refine="search"):
    """A detection function: fer-video's with MTCNN's coarse look (``models.mtcnn.coarse_faces``),
    faces from ``smallest`` of the frame's longer side, its boxes refined by HOG as ``refine`` says
    (``detect_faces``' ``coarse_refine``)."""
    from fer_toolkit.features.faces import detect_faces
    from fer_toolkit.models.mtcnn import coarse_faces
    from fer_toolkit.parameters import VIDEO

    def coarse(gray, side):
        return coarse_faces(gray, side, detector, smallest)

    return lambda gray: detect_faces(gray, "dlib", VIDEO.video_max_side, coarse_side=VIDEO.video_coarse_side,
                                     coarse=coarse, coarse_refine=refine)


#: The coarse looks that ``--scenes`` compares: name, MTCNN's look (else HOG's), what becomes of
#: MTCNN's boxes (``detect_faces``' ``coarse_refine``), and the passes that cut each face again from
#: its landmarks (None: ``VIDEO.video_reframe``).
SCENE_LOOKS = (("HOG", False, "search", None),
               ("MTCNN, refined by HOG, else HOG at 480", True, "search", None),
               ("MTCNN, refined by HOG, else MTCNN's box", True, "keep", None),
               ("MTCNN, not refined", True, "none", None),
               ("MTCNN, not refined, re-framed once", True, "none", 1),
               ("MTCNN, refined by HOG, else HOG at 480, re-framed once", True, "search", 1))


def scene_answers(folder):
    """Video's detection (``with_detection``, 8-bit classifier) on a labelled folder of scenes
    (``photos.py --out DIR`` writes ``DIR/scene640``) with each coarse look of :data:`SCENE_LOOKS`:
    one table row each, with the accuracy on the scenes every look finds; and the false faces in
    the face-free scenes beside it (``DIR/background640``), where that folder exists."""
    import glob

    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.parameters import VIDEO

    files = sorted(glob.glob(os.path.join(folder, "*", "*.png")))
    empty = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(folder)), "background640", "*", "*.png")))
    truth = {f: os.path.basename(os.path.dirname(f)).lower() for f in files}
    base = Recognizer("fer2013")
    labels, false_faces, times = {}, {}, {}
    for name, mtcnn_look, refine, reframe in SCENE_LOOKS:
        video = base.with_detection("dlib", VIDEO.video_max_side, VIDEO.video_coarse_side,
                                    quantized=VIDEO.video_quantized)
        if not mtcnn_look:
            video.coarse_look = None
        video.coarse_refine = refine
        video.reframe = video.reframe if reframe is None else reframe
        answers, spent = {}, []
        for f in files:
            image = cv2.imread(f)
            started = time.perf_counter()
            faces = video.predict(image)
            spent.append((time.perf_counter() - started) * 1000)
            answers[f] = faces[0]["label"].lower() if faces else None
        labels[name], times[name] = answers, statistics.median(spent)
        false_faces[name] = sum(bool(video.predict(cv2.imread(f))) for f in empty)
    every = [f for f in files if all(answers[f] for answers in labels.values())]
    print(f"{len(files)} scenes in {folder}; {len(every)} found by every look; {len(empty)} face-free scenes")
    print("| coarse look | faces found | accuracy (misses wrong) | accuracy on the faces every look finds | "
          "face-free scenes with a face | median ms a scene |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, answers in labels.items():
        found = sum(a is not None for a in answers.values())
        right = sum(answers[f] == truth[f] for f in files)
        print(f"| {name} | {found / len(files):.2%} | {right / len(files):.2%} | "
              f"{sum(answers[f] == truth[f] for f in every) / max(len(every), 1):.2%} | "
              f"{false_faces[name]} of {len(empty)} | {times[name]:.1f} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=0, help="the first N frames of woman2.mp4 (0: all)")
    p.add_argument("--smallest", default="0.0625,0.09375,0.125,0.1667",
                   help="MTCNN's smallest faces to try, as fractions of the frame's longer side "
                        "(VIDEO.video_mtcnn_smallest is the default's)")
    p.add_argument("--scenes", metavar="DIR",
                   help="instead: video's answers on labelled scenes (DIR/<class>/*.png, such as the scene640 "
                        "folder that photos.py --out writes), HOG's coarse look against MTCNN's")
    args = p.parse_args(argv)
    if args.scenes:
        return scene_answers(args.scenes)

    from predict import woman2_640x480

    from fer_toolkit.features.faces import detect_faces
    from fer_toolkit.models.mtcnn import MTCNN
    from fer_toolkit.parameters import VIDEO

    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in woman2_640x480(args.frames or 10 ** 6)]
    detector = MTCNN()
    detector.warm_up()
    looks = [("HOG coarse", lambda g: detect_faces(g, "dlib", VIDEO.video_max_side,
                                                  coarse_side=VIDEO.video_coarse_side))]
    looks += [(f"MTCNN coarse (faces from {float(f):.3g} of the frame: {float(f) * 640:.0f} px)",
               mtcnn_coarse(detector, float(f))) for f in args.smallest.split(",")]
    looks += [(f"MTCNN coarse, coarse_refine {refine} (faces from {VIDEO.video_mtcnn_smallest:.3g} of the frame)",
               mtcnn_coarse(detector, VIDEO.video_mtcnn_smallest, refine)) for refine in ("keep", "none")]
    times = {name: [] for name, _ in looks}
    found = {name: 0 for name, _ in looks}
    sizes = {name: [] for name, _ in looks}  # the first face's side over HOG's coarse look's
    for gray in frames:  # each frame through every look in turn: machine noise hits all alike
        first = None
        for name, look in looks:
            started = time.perf_counter()
            faces = look(gray)
            times[name].append((time.perf_counter() - started) * 1000)
            found[name] += bool(faces)
            first = faces[0][2] if first is None and faces else first
            if faces and first:
                sizes[name].append(faces[0][2] / first)
    print(f"{len(frames)} frames of woman2.mp4 at 640x480; {os.cpu_count()} cores")
    print("| coarse look | frames with a face | median ms a frame | face's side / HOG coarse's (median) |")
    print("| --- | ---: | ---: | ---: |")
    for name, _ in looks:
        print(f"| {name} | {found[name] / len(frames):.1%} | {statistics.median(times[name]):.2f} | "
              f"{statistics.median(sizes[name]) if sizes[name] else float('nan'):.3f} |")


if __name__ == "__main__":
    main()
