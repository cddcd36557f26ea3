"""fer-evaluate: accuracy, macro-F1, per-class report and confusion matrix of
one model bundle, or of an ensemble of several."""

import json
import sys

if __package__ in (None, ""):  # run as ``python scripts/evaluate.py``: run the installed package's copy
    import runpy

    runpy.run_module("fer_toolkit.scripts.evaluate", run_name="__main__")
    sys.exit(0)

from ..parameters import DATASET, SPLITS, VIDEO

from ._cli import (add_detector_flags, add_photo_search_flags, add_reframe_flag, add_tta_flags, check_proposer, fail,
                   load_keras, parser, run)

PROG = "fer-evaluate"


def build_parser():
    p = parser(
        PROG,
        "Evaluate model bundles (run folders of fer-train) on a converted split, or one bundle through the "
        "whole photo pipeline (face detection, crop, features, model) on a labelled folder of images "
        "(--images DIR, laid out DIR/<class>/<image>). Writes classification_report.csv, "
        "confusion_matrix.png (counts and row-normalised) and predictions.csv (every face or image: label, "
        "answer, confidence, probabilities; with --images also the faces found and the box). Several --model "
        "arguments are evaluated as an ensemble (averaged probabilities) and each alone.",
        epilog="examples: fer-evaluate --model runs/b-hybrid --data data/features --split PrivateTest --json; "
               "fer-evaluate --images photos/ (the shipped model on photos/<class>/<image>.jpg)",
    )
    p.add_argument("--model", action="append",
                   help="a shipped model's name (fer2013, ferplus) or a model bundle folder; repeat for an "
                        "ensemble (required for converted data; with --images the default is the default shipped "
                        "model)")
    p.add_argument("--match-classes", action="store_true",
                   help="converted data whose classes differ from the model's (FERPlus' eight against "
                        "FER-2013's seven): evaluate on the faces of the classes the model names, matched by "
                        "name; the faces of other classes are left out and counted, and an answer of a class "
                        "the data lack (contempt) counts wrong")
    p.add_argument("--data", default=DATASET.features_dir, help="output folder of fer-convert")
    p.add_argument("--split", default=DATASET.report_split, choices=SPLITS,
                   help="split to evaluate on (report on PrivateTest, choose on PublicTest)")
    p.add_argument("--out", help="folder for the reports (default: <first model>/eval-<split>)")
    add_tta_flags(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (accuracy, macro_f1, per_class, confusion, n, ...) on stdout")
    p.add_argument("--limit", type=int, default=0, help="converted data: the split's first N rows only (0: all)")
    images = p.add_argument_group("photos (--images)")
    images.add_argument("--images", metavar="DIR",
                        help="labelled image folder DIR/<class>/<image> (class names matched case-insensitively, "
                             "common spellings accepted; a 'none' folder holds images without a face, to count "
                             "false faces): reports the share of faces found, the accuracy with missed faces "
                             "counted wrong, and the classes predicted")
    add_detector_flags(images, VIDEO.photo_detector, whole_image=True)
    add_reframe_flag(images)
    add_photo_search_flags(images, max_side=False)
    images.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def format_table(result):
    """Human-readable lines of an evaluation result."""
    lines = []
    if "found" in result:  # photos
        if result["images"]:
            lines.append(f"{result['folder']}: faces found in {result['found']:.1%} of {result['images']} images; "
                         f"accuracy {result['accuracy_all']:.4f} with missed faces counted wrong, {result['accuracy']:.4f} "
                         f"on the faces found (macro-F1 {result['macro_f1']:.4f}); median {result['median_ms']:.0f} ms "
                         "an image")
            lines.append("predicted: " + ", ".join(f"{c} {s:.1%}" for c, s in result["predicted"].items()))
        if result["no_face_images"]:
            lines.append(f"images without a face: a face reported in {result['false_faces']:.1%} of "
                         f"{result['no_face_images']}")
        if result["unreadable"]:
            lines.append(f"unreadable images skipped: {result['unreadable']}")
        if not result["images"]:
            return "\n".join(lines)
    for member in result.get("members", []):
        lines.append(f"{member['model']}: accuracy {member['accuracy']:.4f}  macro-F1 {member['macro_f1']:.4f}")
    name = "ensemble" if "members" in result else result["models"][0]
    split = result.get("split", "photos")
    if result.get("tta"):
        name += f" with ten-view TTA (shift {result['tta_shift']})" if result.get("tta_shift") else " with flip TTA"
    lines.append(f"{name} on {split} (n={result['n']}): accuracy {result['accuracy']:.4f}  "
                 f"macro-F1 {result['macro_f1']:.4f}")
    if result.get("left_out"):
        lines.append(f"left out: {result['left_out']} faces of classes the model does not name")
    lines.append(f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}")
    for cls, row in result["per_class"].items():
        lines.append(f"{cls:<10} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>6.3f} {row['support']:>7}")
    lines.append(f"reports in {result['out_dir']}")
    return "\n".join(lines)


def main(argv=None):
    args = build_parser().parse_args(argv)

    if not args.model and not args.images:
        fail(PROG, "--model is required (or --images DIR for photos)")
    check_proposer(PROG, args)

    def body():
        from ..features.folders import labelled_images
        from ..features.io import load_manifest
        from ..models.bundle import read_meta

        for path in args.model or ():  # bad input answers before the models load
            read_meta(path)
        if args.images:
            labelled_images(args.images, read_meta(args.model[0] if args.model else None)["classes"])
        else:
            load_manifest(args.data)
        load_keras(PROG)
        from ..models.evaluate import evaluate, evaluate_images

        if args.images:
            result = evaluate_images(args.model, args.images, out_dir=args.out, tta=args.tta, tta_shift=args.tta_shift,
                                     detector=args.detector,
                                     upsample=args.upsample, whole_image=args.whole_image, crop_rule=args.crop_rule,
                                     proposer=args.proposer, progress=not args.no_progress, reframe=args.reframe,
                                     group_look=args.group_look, last_look=args.last_look, tile=args.tile,
                                     turns=args.turns)
        else:
            result = evaluate(args.model, args.data, args.split, out_dir=args.out, tta=args.tta, limit=args.limit,
                              tta_shift=args.tta_shift, match_classes=args.match_classes)
        print(json.dumps(result) if args.json else format_table(result))

    from ..features.faces import ImageError
    from ..features.folders import FolderError
    from ..features.io import DataError
    from ..models.bundle import BundleError

    return run(PROG, body, (DataError, BundleError, FolderError, ImageError))


if __name__ == "__main__":
    sys.exit(main())
