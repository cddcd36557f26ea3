"""fer-convert: turn fer2013.csv (with FERPlus labels, if given) or a labelled image
folder tree into numpy arrays of pixels and features."""

import argparse
import sys

if __package__ in (None, ""):  # run as ``python scripts/convert.py``: run the installed package's copy
    import runpy

    runpy.run_module("fer_toolkit.scripts.convert", run_name="__main__")
    sys.exit(0)

from ..parameters import DATASET, FEATURES, VIDEO

from ._cli import add_detector_flags, add_last_look_flag, fail, int_list, parser, run

PROG = "fer-convert"


def build_parser():
    p = parser(
        PROG,
        "Convert fer2013.csv (or .csv.gz) into per-split numpy arrays: images.npy (N,48,48) uint8, "
        "labels.npy, landmarks.npy (N,68,2) from dlib's 68-point predictor, hog.npy (one HOG over the "
        "image) and hog_windows.npy (HOG of square windows slid over the image), plus manifest.json, which "
        "records the feature settings: every model trained on the output carries them into its bundle, and "
        "prediction uses them.",
        epilog="examples: fer-convert --csv data/fer2013.csv --out data/features; "
               "fer-convert --images photos/ --out data/mine (photos/<class>/<image>.jpg or photos/<split>/<class>/<image>.jpg); "
               "fer-convert --csv data/fer2013.csv --ferplus data/fer2013new.csv --out data/ferplus",
    )
    p.add_argument("--csv", default=DATASET.csv, help="input CSV, plain or gzip-compressed")
    p.add_argument("--images", metavar="DIR",
                   help="convert a labelled folder tree of images instead of the CSV: DIR/<class>/<image> (all "
                        "training) or DIR/<split>/<class>/<image>, split folders train/training, val/valid/validation/"
                        "publictest and test/privatetest; class folders named like FER-2013's classes (angry or "
                        "anger, happy or happiness, ...) keep FER-2013's order, any other names make a new class "
                        "set in sorted order. Any common image format and size; files without a face, "
                        "unreadable or duplicate are skipped and listed in manifest.json")
    p.add_argument("--faces", default="auto", choices=("auto", "detect", "whole"),
                   help="--images: detect (the largest face the detector finds, cropped as for prediction), "
                        f"whole (the image is the face), or auto (whole for images at most "
                        f"{DATASET.whole_max_side} px a side and for small ones framed like a FER-2013 face, as "
                        "prediction takes them; detect otherwise)")
    add_detector_flags(p, VIDEO.photo_detector)
    add_last_look_flag(p, "--images: ")
    p.add_argument("--validation-fraction", type=float, default=DATASET.validation_fraction,
                   help="--images without a validation folder: share of each class of the training folder kept "
                        "for validation (PublicTest)")
    p.add_argument("--validation-seed", type=int, default=DATASET.validation_seed,
                   help="seed of that stratified validation split")
    p.add_argument("--ferplus", metavar="CSV",
                   help="Microsoft's FERPlus vote file (fer2013new.csv), aligned row by row with --csv: its "
                        "votes replace the labels, over eight classes (contempt is class 7), by its authors' "
                        "protocol: votes of 1 are dropped as outliers, a face keeps a label only where one class "
                        "holds more than half of the remaining votes, and faces whose majority is unknown or not "
                        "a face, or that have no image name, are dropped (each rule's count is in the manifest)")
    p.add_argument("--ferplus-labels", default="majority", choices=("majority", "distribution"),
                   help="with --ferplus: train on the majority label, or on the distribution of the remaining "
                        "votes (soft labels, cross-entropy against the votes)")
    p.add_argument("--out", default=DATASET.features_dir, help="output folder (must not exist unless --force)")
    p.add_argument("--expressions", type=int_list, default=None,
                   help="class ids to keep, comma-separated (0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, "
                        "5 Surprise, 6 Neutral, with --ferplus 7 Contempt); labels are remapped to 0..K-1 in this "
                        "order (default: all)")
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
    p.add_argument("--align", action=argparse.BooleanOptionalAction, default=FEATURES.align,
                   help="rotate each face so that its eyes are level (from dlib's landmarks, at most "
                        f"{FEATURES.align_max_angle:g} degrees) before the features are computed; models trained on "
                        "the output align the faces they are given the same way")
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
                           window_orientations=args.hog_window_orientations, window_cell=args.hog_window_cell,
                           align=args.align)
    except SpecError as e:
        fail(PROG, str(e))

    if args.images and (args.ferplus or args.expressions or args.limit or args.skip_bad_rows):
        fail(PROG, "--images takes the classes from its folders: --ferplus, --expressions, --limit and "
                   "--skip-bad-rows are for --csv")

    def body():
        if args.images:
            from ..features.folder_conversion import convert_images
            from ..models.mtcnn import more_faces
            from ..models.recognizer import proposed_candidates
            from ..parameters import VIDEO

            # Photos are searched as Recognizer searches them, BlazeFace's candidates and MTCNN's group look
            # (whose faces come before the last look where HOG finds none) included.
            manifest = convert_images(args.images, args.out, faces=args.faces, landmarks=not args.no_landmarks,
                                      hog=not args.no_hog, workers=args.workers, force=args.force,
                                      progress=not args.no_progress, spec=spec,
                                      validation_fraction=args.validation_fraction, seed=args.validation_seed,
                                      detector=args.detector, last_look=args.last_look, turns=args.turns,
                                      propose=proposed_candidates if VIDEO.proposer_candidates else None,
                                      more=more_faces if VIDEO.group_look else None)
            print(summary(manifest))
            print(f"wrote {args.out}")
            return
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
            ferplus=args.ferplus,
            ferplus_labels=args.ferplus_labels,
        )
        print(summary(manifest))
        print(f"wrote {args.out}")

    return run(PROG, body, (ConversionError,))


if __name__ == "__main__":
    sys.exit(main())
