"""fer-convert: turn fer2013.csv into numpy arrays of pixels and features."""

import sys

if __package__ in (None, ""):  # run as ``python scripts/convert.py``: run the installed package's copy
    import runpy

    runpy.run_module("fer_toolkit.scripts.convert", run_name="__main__")
    sys.exit(0)

from ..parameters import DATASET, FEATURES

from ._cli import fail, int_list, parser, run

PROG = "fer-convert"


def build_parser():
    p = parser(
        PROG,
        "Convert fer2013.csv (or .csv.gz) into per-split numpy arrays: images.npy (N,48,48) uint8, "
        "labels.npy, landmarks.npy (N,68,2) from dlib's 68-point predictor, hog.npy (one HOG over the "
        "image) and hog_windows.npy (HOG of square windows slid over the image), plus manifest.json, which "
        "records the feature settings: every model trained on the output carries them into its bundle, and "
        "prediction uses them.",
        epilog="example: fer-convert --csv data/fer2013.csv --out data/features",
    )
    p.add_argument("--csv", default=DATASET.csv, help="input CSV, plain or gzip-compressed")
    p.add_argument("--out", default=DATASET.features_dir, help="output folder (must not exist unless --force)")
    p.add_argument("--expressions", type=int_list, default=DATASET.expressions,
                   help="class ids to keep, comma-separated (0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, "
                        "5 Surprise, 6 Neutral); labels are remapped to 0..K-1 in this order")
    p.add_argument("--no-landmarks", action="store_true", help="skip dlib landmarks")
    p.add_argument("--no-hog", action="store_true", help="skip HOG and sliding-window HOG")
    p.add_argument("--limit", type=int, default=DATASET.limit,
                   help="convert only the first N rows of each split (0: all)")
    p.add_argument("--workers", type=int, default=DATASET.workers, help="worker processes (0: one per CPU core)")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="skip malformed rows (counted in the summary and manifest) instead of stopping")
    p.add_argument("--hog-orientations", type=int, default=FEATURES.hog_orientations,
                   help="whole-image HOG: orientation bins over 0..180 degrees")
    p.add_argument("--hog-cell", type=int, default=FEATURES.hog_cell, help="whole-image HOG: cell side in pixels")
    p.add_argument("--hog-window-size", type=int, default=FEATURES.window_size,
                   help="sliding-window HOG: window side in pixels")
    p.add_argument("--hog-window-step", type=int, default=FEATURES.window_step,
                   help="sliding-window HOG: stride between windows in pixels")
    p.add_argument("--hog-window-orientations", type=int, default=FEATURES.window_orientations,
                   help="sliding-window HOG: orientation bins inside each window")
    p.add_argument("--hog-window-cell", type=int, default=FEATURES.window_cell,
                   help="sliding-window HOG: cell side inside each window in pixels")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from ..features.conversion import ConversionError, convert, summary
    from ..features.spec import FeatureSpec, SpecError

    try:
        spec = FeatureSpec(hog_orientations=args.hog_orientations, hog_cell=args.hog_cell,
                           window_size=args.hog_window_size, window_step=args.hog_window_step,
                           window_orientations=args.hog_window_orientations, window_cell=args.hog_window_cell)
    except SpecError as e:
        fail(PROG, str(e))

    def body():
        manifest = convert(
            args.csv,
            args.out,
            expressions=args.expressions,
            landmarks=not args.no_landmarks,
            hog=not args.no_hog,
            limit=args.limit,
            workers=args.workers,
            skip_bad_rows=args.skip_bad_rows,
            force=args.force,
            progress=not args.no_progress,
            spec=spec,
        )
        print(summary(manifest))
        print(f"wrote {args.out}")

    return run(PROG, body, (ConversionError,))


if __name__ == "__main__":
    sys.exit(main())
