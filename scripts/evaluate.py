"""fer-evaluate: accuracy, macro-F1, per-class report and confusion matrix of
one model bundle, or of an ensemble of several."""

import json
import sys

if __package__ in (None, ""):  # run as ``python scripts/evaluate.py``: run the installed package's copy
    import runpy

    runpy.run_module("fer_toolkit.scripts.evaluate", run_name="__main__")
    sys.exit(0)

from ..parameters import DATASET, SPLITS

from ._cli import load_keras, parser, run

PROG = "fer-evaluate"


def build_parser():
    p = parser(
        PROG,
        "Evaluate model bundles (run folders of fer-train) on a converted split. Writes "
        "classification_report.csv and confusion_matrix.png (counts and row-normalised). Several "
        "--model arguments are evaluated as an ensemble (averaged probabilities) and each alone.",
        epilog="example: fer-evaluate --model runs/b-hybrid --data data/features --split PrivateTest --json",
    )
    p.add_argument("--model", action="append", required=True,
                   help="model bundle folder; repeat for an ensemble")
    p.add_argument("--data", default=DATASET.features_dir, help="output folder of fer-convert")
    p.add_argument("--split", default=DATASET.report_split, choices=SPLITS,
                   help="split to evaluate on (report on PrivateTest, choose on PublicTest)")
    p.add_argument("--out", help="folder for the reports (default: <first model>/eval-<split>)")
    p.add_argument("--tta", action="store_true",
                   help="flip test-time augmentation: average the probabilities of each face and of its "
                        "mirror image (landmarks mirrored, HOG recomputed, as in training's flip)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (accuracy, macro_f1, per_class, confusion, n, ...) on stdout")
    return p


def format_table(result):
    """Human-readable lines of an evaluation result."""
    lines = []
    for member in result.get("members", []):
        lines.append(f"{member['model']}: accuracy {member['accuracy']:.4f}  macro-F1 {member['macro_f1']:.4f}")
    name = "ensemble" if "members" in result else result["models"][0]
    if result.get("tta"):
        name += " with flip TTA"
    lines.append(f"{name} on {result['split']} (n={result['n']}): accuracy {result['accuracy']:.4f}  "
                 f"macro-F1 {result['macro_f1']:.4f}")
    lines.append(f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}")
    for cls, row in result["per_class"].items():
        lines.append(f"{cls:<10} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>6.3f} {row['support']:>7}")
    lines.append(f"reports in {result['out_dir']}")
    return "\n".join(lines)


def main(argv=None):
    args = build_parser().parse_args(argv)

    def body():
        from ..features.io import load_manifest
        from ..models.bundle import read_meta

        for path in args.model:  # bad input answers before the models load
            read_meta(path)
        load_manifest(args.data)
        load_keras(PROG)
        from ..models.evaluate import evaluate

        result = evaluate(args.model, args.data, args.split, out_dir=args.out, tta=args.tta)
        print(json.dumps(result) if args.json else format_table(result))

    from ..features.io import DataError
    from ..models.bundle import BundleError

    return run(PROG, body, (DataError, BundleError))


if __name__ == "__main__":
    sys.exit(main())
