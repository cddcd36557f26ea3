"""Helpers shared by the command-line scripts."""

import argparse
import sys


def parser(prog, description, epilog=None):
    """An argument parser that shows defaults in ``--help``."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


def int_list(text):
    """Parse ``"0,2,3"`` into a tuple of ints (argparse type)."""
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def fail(prog, message, code=1):
    """Print one error line and exit."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)


def run(prog, main_body, errors):
    """Run a script body, turning expected errors and Ctrl-C into one line.

    Parameters
    ----------
    prog : str
    main_body : callable
        Returns the exit code (or None for 0).
    errors : tuple of exception types
        Errors whose message is shown as one line, without a traceback (a
        missing or unreadable landmark model, which every script may load,
        always is).
    """
    from features.landmarks import MissingModelError

    try:
        return main_body() or 0
    except (*errors, MissingModelError) as e:
        fail(prog, str(e))
    except KeyboardInterrupt:
        fail(prog, "interrupted", 130)
    except BrokenPipeError:  # output piped into a command that stopped reading (| head)
        sys.stderr.close()
        return 0
