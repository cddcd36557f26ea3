"""Keras and TensorFlow, imported on first use with their start-up chatter silenced.

Nothing in :mod:`models` imports them at module level (except the model
builders, which need Keras to exist): a command pays their several seconds only
when it has work that needs them, and ``--help`` or a bad argument answers at once.
"""

import importlib
import os
import sys

from ..features.util import quiet_stderr


def import_keras():
    """The ``keras`` module, imported quietly the first time.

    TensorFlow's C++ start-up lines go straight to file descriptor 2; only an
    environment variable set before it loads, or pointing that descriptor
    elsewhere meanwhile, stops them.

    Returns
    -------
    module
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():
        return importlib.import_module("keras")


def import_tensorflow():
    """The ``tensorflow`` module (after :func:`import_keras`, so just as quietly).

    Returns
    -------
    module
    """
    import_keras()
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with quiet_stderr():
        return importlib.import_module("tensorflow")
