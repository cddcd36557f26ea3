"""Recognizer.stream against fer-video on the same clip, alternating, in one run.

Both read the clip's frames and follow faces between detections with the
same settings (fer-video runs on ``Recognizer.stream``); each side's time is
its loop over the frames, after the model is loaded. Prints frames per second
per run and the median ratio.

    python benchmarks/stream.py --video ../shared/samples/woman2.mp4 --repeats 3
"""

import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def api_rate(recognizer, video):
    """Frames per second of a loop over ``recognizer.stream(video)``, and the share of frames with a face."""
    stream = recognizer.stream(video)
    started = time.perf_counter()
    found = [bool(faces) for faces in stream]
    return len(found) / (time.perf_counter() - started), float(np.mean(found))


def command_rate(video):
    """Frames per second that ``fer-video --no-display`` reports for its loop."""
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), "fer-video"), "--video", video,
                             "--no-display"], capture_output=True, text=True, check=True)
    return float(re.search(r"([\d.]+) frames/s", result.stderr).group(1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", default=os.path.join(os.path.dirname(ROOT), "shared", "samples", "woman2.mp4"))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    from fer_toolkit.models.recognizer import Recognizer

    recognizer = Recognizer()
    api_rate(recognizer, args.video)  # warm-up: LiteRT conversion, Numba, file cache
    rows = []
    for i in range(args.repeats):
        (api, found), command = api_rate(recognizer, args.video), command_rate(args.video)
        rows.append((api, command))
        print(f"run {i + 1}: Recognizer.stream {api:.1f} frames/s (a face on {found:.1%} of frames), "
              f"fer-video {command:.1f} frames/s")
    ratios = [a / c for a, c in rows]
    print(f"median: stream {np.median([a for a, _ in rows]):.1f}, fer-video {np.median([c for _, c in rows]):.1f} "
          f"frames/s; stream / fer-video {np.median(ratios):.2f}")


if __name__ == "__main__":
    sys.exit(main())
