"""Small helpers shared across the toolkit."""

import contextlib
import os


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
