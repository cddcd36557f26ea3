"""Every command has a --help that explains every flag, and the installed
entry points run the same code as the scripts."""

import importlib
import os
import shutil
import subprocess
import sys

import pytest



SCRIPTS = ["convert", "train", "evaluate", "optimize", "predict", "video", "web"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_explains_every_flag(name):
    res = subprocess.run([sys.executable, "-m", f"fer_toolkit.scripts.{name}", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"fer-{name}" in res.stdout
    module = importlib.import_module(f"fer_toolkit.scripts.{name}")
    bare = [a.option_strings or a.dest for a in module.build_parser()._actions if not a.help]
    assert not bare, f"flags without a description: {bare}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_entry_points_are_installed(name):
    exe = shutil.which(f"fer-{name}", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("package not installed in this environment (pip install -e .)")
    res = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and f"fer-{name}" in res.stdout


def test_signal_handlers_are_installed_for_the_block_and_restored():
    import signal
    import threading

    from fer_toolkit.features.util import handling_signals

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    caught = []
    with handling_signals(lambda signum, frame: caught.append(signum)):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert caught == [signal.SIGTERM, signal.SIGINT]
    assert {s: signal.getsignal(s) for s in before} == before
    # Outside the main thread nothing can be installed: the block runs and the handlers stay.
    seen = []

    def in_thread():
        with handling_signals(print):
            seen.append(signal.getsignal(signal.SIGTERM))

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()
    assert seen == [before[signal.SIGTERM]] and {s: signal.getsignal(s) for s in before} == before


@pytest.mark.parametrize("name", ["evaluate", "predict", "video"])
def test_bad_tta_shift_is_one_line(name):
    for value in ("-1", "13", "two"):
        res = subprocess.run([sys.executable, "-m", f"fer_toolkit.scripts.{name}", "--tta", "--tta-shift", value],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 2 and "--tta-shift: expected a whole number of pixels" in res.stderr
        assert not res.stdout
