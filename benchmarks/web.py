"""Benchmark: latency of POST /api/predict under concurrent clients.

Starts fer-web's app under waitress on a free local port and sends a 640x480
one-face JPEG (obama.jpg, resized) from several client threads at once.

    python benchmarks/web.py --clients 4 --requests 25
    python benchmarks/web.py --clients 4 --requests 25 --coarse-side 320
    python benchmarks/web.py --clients 4 --requests 25 --proposer blazeface
    python benchmarks/web.py --clients 4 --requests 25 --no-group-look
    python benchmarks/web.py --clients 4 --requests 25 --stored-answer   # HTTP and decoding alone
"""

import argparse
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(os.path.dirname(ROOT), "shared", "samples")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=4, help="concurrent clients")
    p.add_argument("--requests", type=int, default=25, help="requests per client")
    p.add_argument("--coarse-side", type=int, default=0, help="as fer-web --coarse-side (0: off, the default)")
    p.add_argument("--proposer", default="none", choices=("none", "blazeface"), help="as fer-web --proposer")
    p.add_argument("--no-group-look", dest="group_look", action="store_false",
                   help="as fer-web --no-group-look (MTCNN's look beside HOG off)")
    p.add_argument("--stored-answer", action="store_true",
                   help="answer every request with the first prediction, stored: what the HTTP work of server and "
                        "clients and the decoding of the upload cost without the face search and classifier")
    args = p.parse_args(argv)

    import cv2
    import requests
    from waitress.server import create_server

    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.models.webapp import create_app

    from predict import letterbox

    image = letterbox(cv2.imread(os.path.join(SAMPLES, "obama.jpg")))
    payload = cv2.imencode(".jpg", image)[1].tobytes()
    recognizer = Recognizer(coarse_side=args.coarse_side, proposer=args.proposer, group_look=args.group_look)
    first = recognizer.predict(image)
    if args.stored_answer:
        recognizer.predict = lambda *a, **k: first
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server(create_app(recognizer), host="127.0.0.1", port=port, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{port}/api/predict"

    def client(_):
        session = requests.Session()
        times = []
        for _ in range(args.requests):
            t = time.perf_counter()
            r = session.post(url, files={"file": ("face.jpg", payload, "image/jpeg")}, timeout=60)
            times.append(time.perf_counter() - t)
            assert r.status_code == 200 and len(r.json()["faces"]) == 1
        return times

    client(0)  # warm-up
    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        times = [t for ts in pool.map(client, range(args.clients)) for t in ts]
    wall = time.perf_counter() - started
    server.close()
    print(f"machine: {os.cpu_count()} cores; {args.clients} concurrent clients x {args.requests} requests, "
          f"640x480 JPEG with one face; --coarse-side {args.coarse_side} --proposer {args.proposer}"
          f"{'' if args.group_look else ' --no-group-look'}{' --stored-answer' if args.stored_answer else ''}")
    print(f"latency: median {np.median(times) * 1e3:.1f} ms, p90 {np.percentile(times, 90) * 1e3:.1f} ms; "
          f"throughput {len(times) / wall:.1f} requests/s")


if __name__ == "__main__":
    main()
