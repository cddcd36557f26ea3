"""fer-train: train model A, model B or the SVM baseline on converted data."""

import argparse
import json
import sys

if __package__ in (None, ""):  # run as ``python scripts/train.py``: run the installed package's copy
    import runpy

    runpy.run_module("fer_toolkit.scripts.train", run_name="__main__")
    sys.exit(0)

from ..models.config import CHOICES
from ..parameters import FEATURE_SETS

from ._cli import fail, load_keras, parser, run

PROG = "fer-train"

HELP = {
    "data": "output folder of fer-convert",
    "out": "run folder: model bundle, checkpoints, history, plots",
    "model": "A (shallow CNN), B (deep CNN with batch norm) or svm (SVM baseline on the features)",
    "features": "feature branch fused with the image: " + ", ".join(FEATURE_SETS),
    "activation": "activation of conv and dense layers (any Keras activation name)",
    "keep_prob": "keep probability of the dense layers' dropout (dropout rate = 1 - keep_prob)",
    "batch_norm_conv": "batch norm after convolutions (model B)",
    "batch_norm_dense": "batch norm after dense layers",
    "filters_a": "filters per scale of model A, comma-separated",
    "filters_b": "filters per scale of model B (two convolutions each), comma-separated",
    "spatial_dropout": "model B: spatial dropout rate after each pooling (0: none)",
    "image_units": "width of the image embedding",
    "feature_units": "widths of the feature branch's dense layers, comma-separated",
    "fusion_units": "width of the fusion layer before the softmax",
    "optimizer": "sgd (momentum, Nesterov), adam or rmsprop",
    "learning_rate": "initial learning rate",
    "momentum": "momentum of sgd/rmsprop",
    "beta1": "beta_1 of adam",
    "decay": "learning rate multiplied by this after every epoch",
    "batch_size": "images per batch",
    "epochs": "maximum number of epochs",
    "weight_decay": "decoupled weight decay (0: none)",
    "label_smoothing": "label smoothing of the cross-entropy",
    "imbalance": "class imbalance handling: none, class_weights, focal (focal loss) or oversample",
    "focal_gamma": "gamma of the focal loss",
    "seed": "random seed: data order, augmentation, initialisation",
    "early_stopping_patience": "stop after this many epochs without a better PublicTest accuracy",
    "plateau_patience": "halve the learning rate after this many epochs without a lower PublicTest loss",
    "plateau_factor": "factor applied to the learning rate on a plateau",
    "min_learning_rate": "floor of the learning rate",
    "augment": "augment training images (flip, shift, rotation, zoom, noise, cutout, contrast, sharpness) "
               "with consistent landmarks and recomputed HOG",
    "flip_prob": "probability of a horizontal flip (landmarks mirrored with it)",
    "max_shift": "largest shift in pixels",
    "max_rotation_deg": "largest rotation in degrees",
    "max_scale": "largest zoom about the face's centre, as a fraction (0.15: scaled by 0.85 to 1.15; 0: off)",
    "noise_std": "standard deviation of the Gaussian noise, in grey levels",
    "cutout_size": "side of the cut-out square",
    "cutout_prob": "probability of a cut-out",
    "contrast_range": "contrast factor range, comma-separated",
    "sharpness_prob": "probability of a random blur/sharpen",
    "swa_epochs": "stochastic weight averaging: after the main phase (--epochs or early stopping), train this "
                  "many more epochs at --swa-learning-rate and average their weights into one model, kept if "
                  "it beats the best epoch on PublicTest (0: off)",
    "swa_learning_rate": "constant learning rate of the weight-averaging epochs",
    "init": "fine-tune: start from this model bundle's weights, architecture, feature set and feature "
            "standardisation (a shipped model's name, fer2013 or ferplus; 'shipped': fer2013). When the data's classes differ, "
            "the classification layer is replaced (classes of the same name keep their weights). The schedule "
            "settings not given take parameters.FineTuning's values (learning rate 3e-4, 30 epochs, patience 10); "
            "the bundle records where it started from",
    "freeze_epochs": "with --init: train only the classification layer for this many epochs first",
    "train_limit": "use only the first N Training rows (0: all)",
    "teacher": "distillation: model bundles or shipped models' names, comma-separated, whose mean probabilities "
               "on the Training faces (computed once, kept in the run folder) are mixed into the targets; they "
               "must have the data's classes (fer2013 for FER-2013, ferplus for FERPlus)",
    "teacher_weight": "the teachers' share of each target, 0 to 1 (the labels keep the rest)",
    "distribute": "none, mirrored (all GPUs, or logical CPUs, of this machine) or multiworker "
                  "(several machines, configured through TF_CONFIG)",
    "precision": "float32, or mixed_bfloat16: compute in bfloat16 with float32 weights (about 1.6x as fast "
                 "on a CPU with AMX or AVX512-BF16, slower on others); the bundle is saved in float32",
    "deterministic": "enable TensorFlow op determinism (bit-identical reruns and resumes; slower)",
    "cpu_devices": "split the CPU into N logical devices (to try --distribute mirrored without GPUs)",
    "svm_kernel": "SVM only: linear (LinearSVC) or rbf (Nystroem kernel approximation + LinearSVC)",
    "svm_c": "SVM only: regularisation parameter C",
    "svm_gamma": "SVM only: RBF gamma (0: 1 / number of features)",
    "svm_components": "SVM only: Nystroem components of the RBF approximation",
    "svm_max_iter": "SVM only: iteration cap of the linear solver",
    "val_limit": "use only the first N PublicTest rows (0: all)",
}


def _flag_type(default):
    if isinstance(default, tuple):
        kind = type(default[0]) if default else str
        return lambda text: tuple(kind(t) for t in text.split(",") if t.strip())
    return type(default)


def build_parser():
    from ..models.config import TrainingConfig

    p = parser(
        PROG,
        "Train a CNN (model A or B, optionally fused with landmark/HOG features) or the SVM baseline "
        "on the Training split, validating on PublicTest every epoch. The run folder becomes a model "
        "bundle that fer-evaluate and fer-predict take.",
        epilog="examples: fer-train --data data/features --model B --features landmarks_hog_windows "
               "--out runs/b-hybrid; fer-train --data data/mine --init shipped --out runs/mine (fine-tuning); "
               "fer-train --data data/features --init ferplus --teacher fer2013 --out runs/student (distillation)",
    )
    for key, default in vars(TrainingConfig()).items():
        flag = "--" + key.replace("_", "-")
        if isinstance(default, bool):
            p.add_argument(flag, default=default, action=argparse.BooleanOptionalAction, help=HELP[key])
        elif key in CHOICES and key != "model":  # model: any case of a, b, svm
            p.add_argument(flag, default=default, choices=CHOICES[key], help=HELP[key])
        else:
            p.add_argument(flag, default=default, type=_flag_type(default), help=HELP[key])
    p.add_argument("--params", help="JSON file of settings (e.g. best.json from fer-optimize); "
                                    "flags given explicitly still win")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint, with its own settings; only "
                        "--epochs, --early-stopping-patience, --swa-epochs and --swa-learning-rate, if "
                        "given, change them")
    p.add_argument("--force", action="store_true", help="start afresh over an existing run folder")
    p.add_argument("--quiet", action="store_true",
                   help="one line per epoch instead of a progress bar (always so when output is not a terminal)")
    return p


def given_flags(argv):
    """Settings set by a flag on the command line (``--keep-prob``, ``--no-augment``, abbreviations)."""
    p = build_parser()
    for action in p._actions:
        action.default = argparse.SUPPRESS
    return set(vars(p.parse_args(argv)))


def config_from_args(args, given):
    """Training configuration: defaults, then ``--params``, then explicit flags (``given``).

    Every value is checked here, before any data loads: a bad one ends the
    program with one line.

    Returns
    -------
    config : models.config.TrainingConfig
    chosen : set of str
        The settings chosen by a flag or ``--params``.
    """
    from ..models.config import ConfigError, TrainingConfig

    flags = {k: getattr(args, k) for k in vars(TrainingConfig())}
    params = {}
    if args.params:
        try:
            with open(args.params) as f:
                params = json.load(f)
        except (OSError, ValueError) as e:
            fail(PROG, f"{args.params}: cannot read parameters ({e})")
        params = params.get("params", params) if isinstance(params, dict) else params
        if not isinstance(params, dict):
            fail(PROG, f"{args.params}: expected a JSON object of settings")
        unknown = sorted(str(k) for k in params if k not in flags)
        if unknown:
            fail(PROG, f"{args.params}: unknown setting(s) {', '.join(unknown)}")
    try:
        config = TrainingConfig.from_dict({**flags, **{k: v for k, v in params.items() if k not in given}})
        return config, set(given) | set(params)
    except ConfigError as e:
        fail(PROG, f"{e} (settings from the flags and {args.params})" if args.params else str(e))


def main(argv=None):
    args = build_parser().parse_args(argv)
    given = given_flags(argv)
    config, chosen = config_from_args(args, given)

    def body():
        nonlocal config
        from ..features.io import load_manifest

        load_manifest(config.data)  # missing data answers before TensorFlow loads
        if config.init and not args.resume:
            from ..models.finetune import fine_tune_config

            config = fine_tune_config(config, chosen)  # the bundle is checked before TensorFlow loads
        if config.teacher and not args.resume:
            from ..models.bundle import read_meta

            for teacher in config.teacher:  # a missing teacher answers before TensorFlow loads
                read_meta(teacher)
        load_keras(PROG)
        if config.model == "svm":
            from ..models.train import train_svm

            train_svm(config, force=args.force)
            return 0
        if config.cpu_devices > 1:
            from ..models.backend import import_tensorflow

            tf = import_tensorflow()
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * config.cpu_devices)
        from ..models.train import TrainingInterrupted, finish_run, train

        try:
            # --resume keeps the run's own settings; those of RESUME_OVERRIDES change them if given.
            final = train(config, resume=args.resume, force=args.force, overrides=given,
                          verbose=0 if args.quiet or not sys.stdout.isatty() else 1)
        except TrainingInterrupted as e:
            if not e.epoch:
                fail(PROG, "interrupted before the first epoch finished: nothing was saved", 130)
            fail(PROG, f"interrupted: epoch {e.epoch} is saved; continue with "
                       f"fer-train --data {config.data} --out {config.out} --resume", 130)
        finish_run(config.out, config.data, final)
        return 0

    from ..features.io import DataError
    from ..models.bundle import BundleError
    from ..models.train import TrainingError

    return run(PROG, body, (TrainingError, DataError, BundleError))


if __name__ == "__main__":
    sys.exit(main())
