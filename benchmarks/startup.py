"""Start-up time of every command: ``--help``, and a missing input file.

    python benchmarks/startup.py                       # the installed commands (fer-*)
    python benchmarks/startup.py --old /tmp/old        # also a checkout of an older version, side by side

Each case runs ``--repeat`` times (default 5) in a fresh process, alternating
between the versions; the table gives the median wall time in seconds. An
older checkout is run as ``python <checkout>/scripts/<name>.py``.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

#: Per command, the arguments of a run whose input file does not exist.
MISSING = {
    "convert": ["--csv", "missing.csv"],
    "train": ["--data", "missing-features"],
    "evaluate": ["--model", "missing-run", "--data", "missing-features"],
    "optimize": ["--data", "missing-features"],
    "predict": ["missing.jpg"],
    "video": ["--video", "missing.mp4", "--no-display"],
    "web": ["--model", "missing-run"],
}


def command(name, old=None):
    """How to run a command: the installed entry point, or an old checkout's script."""
    if old:
        return [sys.executable, os.path.join(old, "scripts", f"{name}.py")]
    exe = shutil.which(f"fer-{name}", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", f"fer_toolkit.scripts.{name}"]


def seconds(cmd, cwd):
    started = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    took = time.perf_counter() - started
    return took, res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", help="checkout of an older version to time side by side")
    p.add_argument("--repeat", type=int, default=5, help="runs per case (median reported)")
    args = p.parse_args()
    cwd = os.path.join(os.path.dirname(os.path.abspath(__file__)))  # no data or runs here: inputs are missing
    versions = {"now": None} if not args.old else {"before": os.path.abspath(args.old), "now": None}
    header = "| command | case | " + " | ".join(f"{v} (s)" for v in versions) + (" | ratio |" if args.old else "")
    print(header)
    print("| --- | --- | " + " | ".join("---:" for _ in versions) + (" | ---: |" if args.old else ""))
    for name, missing in MISSING.items():
        for case, extra in (("--help", ["--help"]), ("missing input", missing)):
            times = {v: [] for v in versions}
            for _ in range(args.repeat):
                for version, old in versions.items():
                    took, res = seconds(command(name, old) + extra, cwd)
                    expected = 0 if case == "--help" else 1
                    if res.returncode != expected:
                        sys.exit(f"{name} {case} ({version}): exit {res.returncode}: {res.stderr[-300:]}")
                    times[version].append(took)
            medians = {v: statistics.median(t) for v, t in times.items()}
            row = f"| fer-{name} | {case} | " + " | ".join(f"{m:.2f}" for m in medians.values())
            if args.old:
                row += f" | {medians['before'] / medians['now']:.1f}x |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
