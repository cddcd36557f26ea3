"""fer-predict: recognise facial expressions in photos."""

import json
import os
import sys

if __package__ in (None, ""):  # run as ``python scripts/predict.py``: run the installed package's copy
    import runpy

    runpy.run_module("fer_toolkit.scripts.predict", run_name="__main__")
    sys.exit(0)

from ..parameters import VIDEO

from ._cli import (add_detector_flags, add_model_flag, add_photo_search_flags, add_reframe_flag, add_tta_flags,
                   check_proposer, load_keras, parser, run)

PROG = "fer-predict"
NO_FACE_EXIT = 3
SAMPLE = "astronaut (scikit-image sample photo)"


def build_parser():
    p = parser(
        PROG,
        "Find the faces in photos and recognise their expressions. Prints a table (file, face box, label, "
        "confidence) or, with --json, a JSON list with one object per image: {\"file\", \"faces\": [{box, label, "
        "confidence, probabilities, landmarks}]}. With no image it runs on scikit-image's astronaut photo. "
        f"Exit codes: 0 done, 1 error, {NO_FACE_EXIT} no face in a single image.",
        epilog="examples: fer-predict photo.jpg --output annotated.png --bars bars.png | "
               "fer-predict photos/ --json > results.json",
    )
    p.add_argument("inputs", nargs="*", metavar="IMAGE|FOLDER", help="image files or folders of images")
    add_model_flag(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--output", help="annotated image (a folder when there are several images)")
    p.add_argument("--bars", help="probability bar chart per face (a folder when there are several images)")
    add_detector_flags(p, VIDEO.photo_detector, whole_image=True)
    add_reframe_flag(p)
    add_photo_search_flags(p)
    add_tta_flags(p)
    p.add_argument("--max-pixels", type=int, default=VIDEO.max_pixels,
                   help="refuse images with more pixels than this, checked from the file's header before decoding "
                        "(a folder skips and lists them)")
    p.add_argument("--batch-size", type=int, default=VIDEO.batch_size, help="images per batch in folders")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def collect(inputs):
    """Files to process: the given files and every file inside given folders."""
    files = []
    for item in inputs:
        if os.path.isdir(item):
            names = sorted(n for n in os.listdir(item) if not n.startswith("."))
            files.extend(os.path.join(item, n) for n in names if os.path.isfile(os.path.join(item, n)))
        else:
            files.append(item)
    return files


def output_path(target, source, several, suffix):
    """Where to write an output for ``source``: ``target`` itself, or a file in folder ``target``."""
    if not several:
        return target
    os.makedirs(target, exist_ok=True)
    stem = os.path.splitext(os.path.basename(source))[0] if isinstance(source, str) else "astronaut"
    return os.path.join(target, f"{stem}.{suffix}.png")


def table(results):
    lines = [f"{'file':<40} {'face':>4}  {'box (x, y, w, h)':<24} {'label':<9} {'confidence':>10}"]
    for name, faces in results:
        if isinstance(faces, Exception):
            lines.append(f"{name:<40} error: {faces}")
        elif not faces:
            lines.append(f"{name:<40} no face found")
        for i, f in enumerate(faces if isinstance(faces, list) else []):
            box = ", ".join(str(v) for v in f["box"])
            lines.append(f"{name:<40} {i + 1:>4}  {box:<24} {f['label']:<9} {f['confidence']:>10.1%}")
    return "\n".join(lines)


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_proposer(PROG, args)

    def body():
        from ..models.bundle import read_meta
        from ..features.images import check_image_file

        single = len(args.inputs) <= 1 and not any(os.path.isdir(i) for i in args.inputs)
        sources = collect(args.inputs)
        if single and sources:  # a bad input or model answers before the model loads
            check_image_file(sources[0], args.max_pixels)
        for path in args.model or ():
            read_meta(path)
        load_keras(PROG)
        from tqdm import tqdm

        from ..models.draw import annotate, probability_bars, write_image
        from ..models.recognizer import Recognizer, load_image

        names = list(sources)
        if not args.inputs:
            from skimage import data

            sources, names = [load_image(data.astronaut(), color_order="rgb")], [SAMPLE]
        recognizer = Recognizer(args.model, detector=args.detector, upsample=args.upsample, whole_image=args.whole_image,
                                max_side=args.detect_max_side, tta=args.tta, max_pixels=args.max_pixels,
                                tta_shift=args.tta_shift,
                                crop_rule=args.crop_rule, proposer=args.proposer, reframe=args.reframe,
                                group_look=args.group_look, last_look=args.last_look, tile=args.tile,
                                turns=args.turns)
        results = []
        bar = tqdm(total=len(sources), unit="image", disable=True if args.no_progress or single else None,
                   file=sys.stderr)
        for start in range(0, len(sources), args.batch_size):
            chunk = sources[start : start + args.batch_size]
            results.extend(recognizer.predict_batch(chunk))
            bar.update(len(chunk))
        bar.close()
        named = list(zip(names, results))
        several = len(sources) > 1
        for source, faces in zip(sources, results):
            if isinstance(faces, Exception):
                continue
            if args.output:
                image = load_image(source, max_pixels=args.max_pixels)
                write_image(output_path(args.output, source, several, "annotated"), annotate(image, faces, numbered=True))
            if args.bars:
                probability_bars(faces, output_path(args.bars, source, several, "bars"),
                                 os.path.basename(source) if isinstance(source, str) else SAMPLE)
        if single and isinstance(results[0], Exception):
            raise results[0]
        if args.json:
            print(json.dumps([{"file": n, "error": str(f)} if isinstance(f, Exception) else {"file": n, "faces": f}
                              for n, f in named]))
        else:
            print(table(named))
        if single:
            name, faces = named[0]
            if not faces:
                print(f"{PROG}: no face found in {name}", file=sys.stderr)
                return NO_FACE_EXIT
        return 0

    from ..features.faces import ImageError
    from ..models.bundle import BundleError

    return run(PROG, body, (ImageError, BundleError))


if __name__ == "__main__":
    sys.exit(main())
