"""Benchmark: training throughput of model B (images/s) by batch size, threads,
XLA and precision, on random inputs of the real shapes (fused with
sliding-window HOG).

Each configuration runs in a fresh process (TensorFlow's thread pools are
fixed at start-up): one warm-up epoch, then a timed one.

    python benchmarks/train_speed.py
    python benchmarks/train_speed.py --precision-repeats 3   # float32 against mixed_bfloat16 only
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time
import numpy as np, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads({threads})
tf.config.threading.set_inter_op_parallelism_threads({threads})
import keras
keras.mixed_precision.set_global_policy({policy!r})
from fer_toolkit.models.config import TrainingConfig
from fer_toolkit.models.train import build_from_config
config = TrainingConfig(model="B", features="landmarks_hog_windows", batch_size={batch}, filters_b={filters_b})
model = build_from_config(config, 7, 1936)
model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"], jit_compile={xla})
n = {batch} * max(8, 3200 // {batch})
rng = np.random.default_rng(0)
x = {{"image": rng.integers(0, 256, (n, 48, 48, 1)).astype("float32"), "features": rng.normal(size=(n, 1936)).astype("float32")}}
y = np.eye(7, dtype="float32")[rng.integers(0, 7, n)]
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch({batch}).prefetch(2)
model.fit(ds, epochs=1, verbose=0)
t = time.perf_counter(); model.fit(ds, epochs=1, verbose=0); dt = time.perf_counter() - t
print(json.dumps({{"images_per_second": n / dt, "parameters": model.count_params()}}))
"""


def measure(batch, threads, xla, policy="float32", filters_b=None):
    from fer_toolkit.parameters import NETWORK

    code = CHILD.format(root=ROOT, batch=batch, threads=threads, xla=xla, policy=policy,
                        filters_b=tuple(filters_b or NETWORK.filters_b))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", default="32,64,128", help="batch sizes, comma-separated")
    p.add_argument("--threads", default="1,2", help="TensorFlow thread counts, comma-separated")
    p.add_argument("--precision-repeats", type=int, default=0,
                   help="instead, time float32 and Keras' mixed_bfloat16 policy side by side this many "
                        "times (batch 64, all cores)")
    p.add_argument("--filters-b", default="", help="model B's filters per scale, comma-separated (default: "
                                                   "parameters.NETWORK's; the shipped models': 64,128,256,256)")
    args = p.parse_args(argv)
    filters = tuple(int(f) for f in args.filters_b.split(",")) if args.filters_b else None
    print(f"machine: {os.cpu_count()} cores; model B + landmarks_hog_windows, filters {filters or 'default'}")
    if args.precision_repeats:
        print("| repeat | float32 images/s | mixed_bfloat16 images/s |")
        print("| ---: | ---: | ---: |")
        for i in range(args.precision_repeats):
            rates = [measure(64, os.cpu_count(), False, policy, filters)["images_per_second"]
                     for policy in ("float32", "mixed_bfloat16")]
            print(f"| {i + 1} | {rates[0]:.0f} | {rates[1]:.0f} |", flush=True)
        return
    print("| batch | threads | XLA | images/s |")
    print("| ---: | ---: | --- | ---: |")
    for threads in (int(t) for t in args.threads.split(",")):
        for batch in (int(b) for b in args.batches.split(",")):
            r = measure(batch, threads, False, filters_b=filters)
            print(f"| {batch} | {threads} | off | {r['images_per_second']:.0f} |", flush=True)
    for batch in (int(b) for b in args.batches.split(",")):
        r = measure(batch, os.cpu_count(), True, filters_b=filters)
        print(f"| {batch} | {os.cpu_count()} | on | {r['images_per_second']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
