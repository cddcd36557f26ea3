"""Benchmark: memory under hostile images, and fer-web under a mixed load.

1. Peak memory (max RSS) of ``fer-predict --json`` on the largest image the
   default ``--max-pixels`` accepts (50 MP, as PNG and as JPEG), and on a
   small PNG whose header claims 169 MP (refused before decoding).
2. ``fer-web`` (started as a user would, default flags): 8 concurrent uploads
   of over-limit images, then ``--clients`` concurrent clients sending
   ``--requests`` mixed requests (good photos, non-images, truncated files,
   over-limit images, empty bodies, requests without a file). Reports every
   status code, the latency of the good requests and the server's peak memory.
3. ``fer-web`` with 110 connections held idle mid-request, with the default
   ``--connection-limit`` and with waitress' own default of 100: how long a
   real request then waits.

    python benchmarks/security.py --clients 50 --requests 2000
"""

import argparse
import collections
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(os.path.dirname(ROOT), "shared", "samples")


def peak_rss_mb(cmd):
    """Run a command in a fresh interpreter and return (exit code, its peak RSS in MB)."""
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True).stdout
    rc, kb = out.split()
    return int(rc), int(kb) / 1024


def vm_hwm_mb(pid):
    """Peak resident memory of a running process (Linux VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_images(folder):
    """The test images: a 50 MP photo (PNG, JPEG), a 169 MP PNG of zeros, and the bad inputs."""
    import cv2
    from PIL import Image

    photo = cv2.imread(os.path.join(SAMPLES, "two_people.jpg"))
    big = cv2.resize(photo, (8660, 5773), interpolation=cv2.INTER_LINEAR)  # 49.99 MP
    paths = {"50 MP PNG": os.path.join(folder, "big.png"), "50 MP JPEG": os.path.join(folder, "big.jpg"),
             "169 MP PNG of zeros": os.path.join(folder, "bomb.png")}
    cv2.imwrite(paths["50 MP PNG"], big, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    cv2.imwrite(paths["50 MP JPEG"], big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    Image.new("RGB", (13000, 13000)).save(paths["169 MP PNG of zeros"], optimize=True)
    return paths


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_web(port, *flags):
    import requests

    proc = subprocess.Popen([sys.executable, "-m", "fer_toolkit.scripts.web", "--port", str(port), *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except requests.RequestException:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("fer-web did not start")


def idle_connections(n, flags):
    """Seconds a real request waits while ``n`` connections sit idle mid-request (None: no answer in 15 s)."""
    import requests

    port = free_port()
    proc = start_web(port, *flags)
    idle = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finishes its request
            idle.append(s)
        t = time.perf_counter()
        try:
            requests.get(f"http://127.0.0.1:{port}/health", timeout=15)
            return time.perf_counter() - t
        except requests.RequestException:
            return None
    finally:
        for s in idle:
            s.close()
        proc.terminate()
        proc.communicate(timeout=30)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50, help="concurrent clients of the mixed load")
    p.add_argument("--requests", type=int, default=2000, help="requests of the mixed load, all clients together")
    p.add_argument("--seed", type=int, default=0, help="order of the mixed requests")
    p.add_argument("--idle-only", action="store_true", help="only the idle-connections comparison")
    args = p.parse_args(argv)

    import requests

    print(f"machine: {os.cpu_count()} cores")
    for flags in ([], ["--connection-limit", "100"]):
        waited = idle_connections(110, flags)
        print(f"fer-web {' '.join(flags) or '(default flags)'}: with 110 idle connections a request is "
              + (f"answered in {waited * 1e3:.0f} ms" if waited is not None else "not answered within 15 s"))
    if args.idle_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(tmp)
        print("\nfer-predict --json, peak memory (max RSS):")
        for name, path in paths.items():
            rc, mb = peak_rss_mb([sys.executable, "-m", "fer_toolkit.scripts.predict", path, "--json"])
            print(f"  {name:<22} {os.path.getsize(path) / 1e6:7.2f} MB file  exit {rc}  peak {mb:6.0f} MB")
        rc, mb = peak_rss_mb([sys.executable, "-m", "fer_toolkit.scripts.predict", os.path.join(SAMPLES, "obama.jpg"),
                              "--json"])
        print(f"  {'obama.jpg (910x1137)':<22} {'':>16}  exit {rc}  peak {mb:6.0f} MB")

        port = free_port()
        proc = start_web(port)
        url = f"http://127.0.0.1:{port}/api/predict"
        try:
            started_mb = vm_hwm_mb(proc.pid)
            bomb = open(paths["169 MP PNG of zeros"], "rb").read()

            def post(item):
                name, data = item
                files = {"file": (name, data)} if data is not None else None
                t = time.perf_counter()
                r = requests.post(url, files=files, data=None if files else {"x": "1"}, timeout=120)
                return name, r.status_code, time.perf_counter() - t

            with ThreadPoolExecutor(8) as pool:
                statuses = [s for _, s, _ in pool.map(post, [("bomb.png", bomb)] * 8)]
            print(f"\nfer-web (default flags): peak memory after start-up {started_mb:.0f} MB; 8 concurrent "
                  f"uploads of the 169 MP PNG: statuses {sorted(set(statuses))}, peak {vm_hwm_mb(proc.pid):.0f} MB")

            obama = open(os.path.join(SAMPLES, "obama.jpg"), "rb").read()
            kinds = {
                "good obama.jpg": obama,
                "good two_people.jpg": open(os.path.join(SAMPLES, "two_people.jpg"), "rb").read(),
                "good lin-manuel-miranda.png": open(os.path.join(SAMPLES, "lin-manuel-miranda.png"), "rb").read(),
                "not an image": b"hello, not an image" * 50,
                "truncated JPEG": obama[:5000],
                "over-limit PNG": bomb,
                "empty body": b"",
                "no file field": None,
            }
            rng = random.Random(args.seed)
            names = list(kinds)
            plan = [names[i % len(names)] for i in range(args.requests)]
            rng.shuffle(plan)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(post, [(n, kinds[n]) for n in plan]))
            wall = time.perf_counter() - t0
            peak = vm_hwm_mb(proc.pid)
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    by_kind = collections.defaultdict(collections.Counter)
    for name, status, _ in results:
        by_kind[name][status] += 1
    good = [t for name, status, t in results if name.startswith("good")]
    print(f"\nmixed load: {args.clients} concurrent clients, {len(results)} requests answered of {args.requests} "
          f"in {wall:.1f} s; 5xx: {sum(s >= 500 for _, s, _ in results)}")
    for name in names:
        print(f"  {name:<28} " + ", ".join(f"{s}: {c}" for s, c in sorted(by_kind[name].items())))
    print(f"good photos: latency median {np.median(good) * 1e3:.0f} ms, p90 {np.percentile(good, 90) * 1e3:.0f} ms; "
          f"server peak memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
