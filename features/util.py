"""Small helpers shared across the toolkit."""

import contextlib
import glob
import json
import os
import shutil
import signal
import sys
import threading


def short(text, limit=40):
    """At most ``limit`` characters of ``text``, an input quoted in an error
    message, marked when cut (a malformed CSV line can be megabytes long).

    Parameters
    ----------
    text : str or bytes
    limit : int, optional

    Returns
    -------
    str
    """
    n, head = len(text), text[:limit]
    if isinstance(head, (bytes, bytearray)):
        head = bytes(head).decode(errors="replace")
    return repr(str(head)) if n <= limit else f"{str(head)!r}... ({n:,} characters)"


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


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or not a pid: leave it alone
    return True


def clean_stale(path):
    """Tidy what killed runs left beside the folder ``path``.

    ``<path>.tmp-<pid>`` folders of processes no longer running are removed;
    a ``<path>.old-<pid>`` of such a process is put back when ``path`` is
    missing (the run died between the two renames of :func:`replace_folder`)
    and removed otherwise.

    Returns
    -------
    list of str
        The folders removed or restored.
    """
    done = []
    for kind in ("tmp", "old"):
        for leftover in sorted(glob.glob(f"{glob.escape(path)}.{kind}-*")):
            pid = leftover.rsplit("-", 1)[1]
            if not pid.isdigit() or _pid_alive(int(pid)):
                continue
            if kind == "old" and not os.path.exists(path):
                os.rename(leftover, path)
            else:
                shutil.rmtree(leftover, ignore_errors=True)
            done.append(leftover)
    return done


def replace_folder(new, path):
    """Move the finished folder ``new`` to ``path``, replacing what is there.

    The old folder is renamed aside, the new one renamed into place, and only
    then is the old one removed: at every moment one complete folder exists
    (:func:`clean_stale` finishes the job after a kill).
    """
    if not os.path.exists(path):
        os.rename(new, path)
        return
    old = f"{path}.old-{os.getpid()}"
    os.rename(path, old)
    try:
        os.rename(new, path)
    except BaseException:
        os.rename(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def user_cache_dir(*parts):
    """The toolkit's folder in the user's cache (not created).

    ``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on
    macOS, ``%LOCALAPPDATA%`` on Windows; then ``fer-toolkit`` and ``parts``.

    Parameters
    ----------
    *parts : str
        Sub-folders.

    Returns
    -------
    str
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "fer-toolkit", *parts)


def use_numba_cache_dir():
    """Point Numba's cache of compiled functions at :func:`user_cache_dir`
    (``numba``), unless ``NUMBA_CACHE_DIR`` says otherwise.

    Numba's default puts it in ``__pycache__`` beside the source, which for an
    installed package is site-packages. Call before functions are decorated.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    os.environ["NUMBA_CACHE_DIR"] = user_cache_dir("numba")
    if "numba" in sys.modules:  # imported earlier: its configuration was read then
        from numba.core import config

        config.reload_config()


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path to write a file at, renamed over ``path`` when the
    block ends without error and removed when it fails: readers of ``path``
    only ever see the old file or the whole new one.

    The temporary file sits beside ``path`` (the rename stays on one file
    system) and keeps its extension (``model.tmp-123.keras``), for writers
    that choose a format by it.

    Parameters
    ----------
    path : str

    Yields
    ------
    str
    """
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp-{os.getpid()}-{threading.get_ident()}{ext}"
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, mode="w", **kwargs):
    """:func:`open` for writing, through :func:`atomic_path`.

    Parameters
    ----------
    path : str
    mode : str, optional
        ``"w"`` or ``"wb"``.
    **kwargs
        Handed to :func:`open` (``newline``, ``encoding``).

    Yields
    ------
    file object
    """
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def atomic_write_json(path, data, default=None):
    """Write JSON through :func:`atomic_write`; ``default`` converts other types
    (see :func:`json.dump`)."""
    with atomic_write(path) as f:
        json.dump(data, f, indent=1, default=default)


def unknown_keys(data, cls):
    """The keys of a dict read from a file that name no field of the dataclass ``cls``.

    Parameters
    ----------
    data : object
        Parsed JSON; anything but a dict is a ``ValueError``.
    cls : type
        A dataclass.

    Returns
    -------
    str
        The first few unknown keys, comma-separated, each cut to 40 characters ("" when none).
    """
    import dataclasses

    if not isinstance(data, dict):
        raise ValueError(f"must be an object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    return ", ".join(sorted(str(k)[:40] for k in data if k not in names)[:5])
