"""Small helpers shared across the toolkit."""

import contextlib
import os
import signal


@contextlib.contextmanager
def quiet_stderr():
    """Point the process's standard error (file descriptor 2) at /dev/null.

    Native libraries (TensorFlow while it loads, FFmpeg inside OpenCV) print
    there directly, which Python cannot redirect otherwise; their chatter
    would bury the toolkit's one-line messages. Exceptions still propagate.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no usable standard error: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


@contextlib.contextmanager
def handling_signals(handler, signals=(signal.SIGINT, signal.SIGTERM)):
    """Install ``handler`` for Ctrl-C and SIGTERM for the block, then restore the previous ones.

    Parameters
    ----------
    handler : callable
        A signal handler, ``handler(signum, frame)``.
    signals : tuple of int, optional
        The signals to handle.

    Notes
    -----
    Outside the main thread Python cannot install handlers; there the
    signals stay as they are and the block runs anyway.
    """
    previous = {}
    for sig in signals:
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:  # not in the main thread
            pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
