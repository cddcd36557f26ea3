"""The documentation's examples run: every Python example of README.md and of the guide (docs/)
runs, on real inputs (photos that ship with the dependencies, a clip made of one, converted
FER-2013 rows); every flag that a command example shows exists in that command's parser, and
every command example parses."""

import glob
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
COMMANDS = {"fer-convert": "convert", "fer-train": "train", "fer-evaluate": "evaluate", "fer-optimize": "optimize",
            "fer-predict": "predict", "fer-video": "video", "fer-web": "web"}


def code_blocks(path, languages):
    """The fenced code blocks of a Markdown page in the given languages, in order."""
    text = open(path, encoding="utf-8").read()
    return [m.group(2) for m in re.finditer(r"^```(\w+)[^\n]*\n(.*?)^```", text, re.S | re.M) if m.group(1) in languages]


def command_lines(block):
    """The shell commands of a bash block: continuations joined, split at pipes, ``&&``, ``;`` and redirections."""
    text = block.replace("\\\n", " ")
    for line in text.splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        command = []
        for token in tokens + ["|"]:
            if token in ("|", "&&", ";", ">", "<", "||") or token.startswith(">"):
                if command:
                    yield command
                command = []
            else:
                command.append(token)


def documented_commands():
    """Every fer-* command line of the pages, as (page, tokens)."""
    found = []
    for page in PAGES:
        for block in code_blocks(page, ("bash", "sh", "console")):
            for tokens in command_lines(block):
                if tokens and tokens[0] in COMMANDS:
                    found.append((os.path.relpath(page, ROOT), tokens))
    return found


def test_the_pages_show_every_command():
    shown = {tokens[0] for _, tokens in documented_commands()}
    assert shown == set(COMMANDS), f"no example of {sorted(set(COMMANDS) - shown)}"


@pytest.mark.parametrize("page, tokens", documented_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_command_examples_parse(page, tokens):
    """Each flag shown is the command's (``[--tta]`` marks an optional one), and the line parses."""
    from importlib import import_module

    parser = import_module(f"fer_toolkit.scripts.{COMMANDS[tokens[0]]}").build_parser()
    args = [t[1:-1] if t.startswith("[") and t.endswith("]") else t for t in tokens[1:]]
    for arg in args:
        if arg.startswith("--"):
            assert arg.split("=")[0] in parser._option_string_actions, f"{page}: {tokens[0]} has no flag {arg}"
    try:
        parser.parse_args(args)
    except SystemExit as e:
        pytest.fail(f"{page}: {' '.join(tokens)} does not parse (exit {e.code})")


@pytest.fixture(scope="module")
def workspace(fer_csv, tmp_path_factory):
    """A working folder with what the examples name: photo.jpg (matplotlib's Grace Hopper), clip.mp4
    (scikit-image's astronaut panned) and data/features (300 real rows of each split)."""
    import shutil

    import cv2
    import matplotlib
    import skimage

    from fer_toolkit.features import convert

    root = tmp_path_factory.mktemp("examples")
    shutil.copyfile(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg"),
                    root / "photo.jpg")  # a real JPEG, as published
    photo = cv2.imread(os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png"))
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (360, 360))
    for i in range(30):  # the photo panned: a face in every frame
        x = 20 + 3 * i
        writer.write(cv2.resize(photo[0:400, x : x + 400], (360, 360), interpolation=cv2.INTER_AREA))
    writer.release()
    convert(fer_csv, str(root / "data" / "features"), limit=300, progress=False)
    return root


PYTHON_PAGES = [p for p in PAGES if code_blocks(p, ("python",))]

#: Runs each page's examples in a namespace of its own, in one process (TensorFlow loads once).
RUNNER = """
import sys, traceback
for page, code in PAGES:
    try:
        exec(compile(code, page, "exec"), {"__name__": "__main__"})
    except BaseException:
        print(f"EXAMPLE FAILED: {page}", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


def test_python_examples_run(workspace):
    """Every page's Python examples, one page after the other, each page's blocks in order in one
    namespace, in the working folder."""
    pages = [(os.path.relpath(p, ROOT), "\n\n".join(code_blocks(p, ("python",)))) for p in PYTHON_PAGES]
    assert len(pages) >= 5 and any(page == "README.md" for page, _ in pages)
    result = subprocess.run([sys.executable, "-c", f"PAGES = {pages!r}\n" + RUNNER], cwd=str(workspace),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Happy" in result.stdout or "Neutral" in result.stdout  # the examples print what they find


def test_examples_find_the_faces(workspace):
    """The README's example photo and clip hold faces that the examples report."""
    from fer_toolkit.models.recognizer import Recognizer

    recognizer = Recognizer()
    assert len(recognizer.predict(str(workspace / "photo.jpg"))) == 1
    assert np.mean([bool(f) for f in recognizer.stream(str(workspace / "clip.mp4"))]) == 1.0
