"""Shared fixtures: the real dataset (when the environment points at it) and
small synthetic CSV files."""

import gzip
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from fer_toolkit.parameters import DATASET

REAL_ROWS = 2000
SAMPLES = os.path.join(os.path.dirname(ROOT), "shared", "samples")


def free_port():
    """A local TCP port that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_web(port, *extra):
    """``fer-web`` on ``port`` with ``extra`` flags, once it answers ``/health`` (fails the test if it never does)."""
    import subprocess
    import sys
    import time
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "fer_toolkit.scripts.web", "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("fer-web did not start: " + proc.communicate()[1][-2000:])


def run_script(name, *args, env=None, timeout=300):
    """``fer-NAME ARGS`` in a process of its own (``python -m``), as ``subprocess.run`` gives it back."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", f"fer_toolkit.scripts.{name}", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def run_cli(name, *args):
    """``fer-NAME ARGS`` run in this process by the script's own ``main``, as a ``CompletedProcess``.

    The command's whole code path (parsing, checks, output, exit code) without the seconds a new
    interpreter spends importing TensorFlow. Tests of what a real process shows around it
    (one-line errors beside TensorFlow's own log, signals, installed entry points) start one
    (:func:`run_script`).
    """
    import contextlib
    import importlib
    import io
    import subprocess

    module = importlib.import_module(f"fer_toolkit.scripts.{name}")
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = module.main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) or e.code is None else 1
    return subprocess.CompletedProcess([f"fer-{name}", *argv], code or 0, out.getvalue(), err.getvalue())


def without_tensorflow(tmp_path):
    """An environment in which importing TensorFlow or Keras stops the process: what answers
    there answers before they load."""
    for name in ("tensorflow", "keras"):
        (tmp_path / "poison" / name).mkdir(parents=True)
        (tmp_path / "poison" / name / "__init__.py").write_text(f"raise SystemExit('{name} was imported')\n")
    return {**os.environ, "PYTHONPATH": str(tmp_path / "poison")}


def dataset_path():
    """Path of the real FER-2013 CSV, or None."""
    path = os.environ.get(DATASET.env_var)
    return path if path and os.path.isfile(path) else None


def dataset_required():
    """Whether a missing dataset fails the tests that need it (CI sets this)."""
    return os.environ.get(DATASET.required_env_var, "") not in ("", "0")


@pytest.fixture(scope="session")
def fer_csv():
    path = dataset_path()
    if path is None:
        message = f"real dataset not available: set {DATASET.env_var} to fer2013.csv(.gz)"
        if dataset_required():  # on CI a real-data test never silently stops running
            pytest.fail(f"{message} ({DATASET.required_env_var} is set)", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def ferplus_csv(fer_csv):
    """Microsoft's genuine FERPlus vote file: FERPLUS_CSV, else fer2013new.csv beside the FER-2013 CSV."""
    path = os.environ.get(DATASET.ferplus_env_var) or os.path.join(os.path.dirname(fer_csv), "fer2013new.csv")
    if not os.path.isfile(path):
        message = f"FERPlus vote file not available: set {DATASET.ferplus_env_var} to fer2013new.csv"
        if dataset_required():
            pytest.fail(f"{message} ({DATASET.required_env_var} is set)", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def real_features(fer_csv, tmp_path_factory):
    """A converted slice of the real dataset: the first REAL_ROWS rows of each split, all features."""
    from fer_toolkit.features import convert

    out = tmp_path_factory.mktemp("real") / "features"
    convert(fer_csv, str(out), limit=REAL_ROWS, progress=False)
    return str(out)


def face_like(rng, n):
    """Synthetic 48x48 'faces': smooth blobs with noise (uint8)."""
    yy, xx = np.mgrid[0:48, 0:48]
    base = 120 + 60 * np.exp(-(((yy - 24) / 14.0) ** 2 + ((xx - 24) / 11.0) ** 2))
    imgs = base[None] + rng.normal(0, 20, (n, 48, 48))
    return np.clip(imgs, 0, 255).astype(np.uint8)


def write_csv(path, rows, header="emotion,pixels,Usage", compress=False):
    """Write a FER-2013 style CSV from (label, pixels, usage) tuples or raw lines."""
    lines = [header]
    for row in rows:
        if isinstance(row, str):
            lines.append(row)
        else:
            label, pixels, usage = row
            text = pixels if isinstance(pixels, str) else " ".join(str(int(v)) for v in np.ravel(pixels))
            lines.append(f"{label},{text},{usage}")
    data = ("\n".join(lines) + "\n").encode()
    if compress:
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.fixture
def synthetic_rows():
    """21 valid rows: three per class, spread over the three splits."""
    rng = np.random.default_rng(0)
    images = face_like(rng, 21)
    usages = ["Training", "PublicTest", "PrivateTest"]
    return [(i % 7, images[i], usages[(i // 7) % 3]) for i in range(21)]


@pytest.fixture(scope="session")
def synthetic_features(tmp_path_factory):
    """A converted synthetic dataset (96 rows per split) with all features."""
    from fer_toolkit.features import convert

    rng = np.random.default_rng(3)
    tmp = tmp_path_factory.mktemp("synthetic")
    images = face_like(rng, 3 * 96)
    rows = [(i % 7, images[i], ("Training", "PublicTest", "PrivateTest")[i // 96]) for i in range(3 * 96)]
    csv = write_csv(tmp / "f.csv", rows)
    convert(csv, str(tmp / "features"), progress=False, workers=1)
    return str(tmp / "features")
