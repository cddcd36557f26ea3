"""fer-optimize: hyperparameter search with hyperopt (TPE), optionally on Spark."""

import os
import sys

if __package__ in (None, ""):  # run as ``python scripts/optimize.py``: run the installed package's copy
    import runpy

    runpy.run_module("fer_toolkit.scripts.optimize", run_name="__main__")
    sys.exit(0)

from ..parameters import DATASET, FEATURE_SETS, FEATURES, NETWORK, SEARCH

from ._cli import fail, load_keras, parser, run

PROG = "fer-optimize"


def build_parser():
    p = parser(
        PROG,
        "Search training hyperparameters with hyperopt's TPE. Each trial is a budgeted training run "
        "scored by its PublicTest accuracy (PrivateTest is never read). The search space is in "
        "parameters.py (OptimizerSearch): for the CNNs learning rate (log-uniform), decay, optimiser, "
        "momentum/beta1 and keep probability; for the SVM C and gamma (log-uniform). Trials are saved "
        "after every trial: re-running the same command resumes. Writes best.json (fer-train --params "
        "takes it), trials.csv and trials.png to --out.",
        epilog="example: fer-optimize --data data/features --model B --features landmarks_hog_windows "
               "--max-evals 20 --trials runs/opt-b.trials --out runs/opt-b",
    )
    p.add_argument("--data", default=DATASET.features_dir, help="output folder of fer-convert")
    p.add_argument("--model", default=NETWORK.model, choices=["A", "B", "svm"], help="model to tune")
    p.add_argument("--features", default=FEATURES.feature_set, choices=list(FEATURE_SETS), help="feature set")
    p.add_argument("--max-evals", type=int, default=SEARCH.max_evals, help="total number of trials")
    p.add_argument("--trials", help=f"trials file (JSON), saved after every trial (default: <out>/{SEARCH.trials_file})")
    p.add_argument("--trust-pickle", action="store_true",
                   help="read a --trials file of the old pickle format (older versions wrote one). A pickle can "
                        "run any code when read: use this only for a file you made yourself; it is rewritten "
                        "as JSON")
    p.add_argument("--out", default=SEARCH.out, help="folder for best.json, trials.csv, trials.png")
    p.add_argument("--epochs", type=int, default=SEARCH.epochs, help="epochs of each trial's training run")
    p.add_argument("--train-limit", type=int, default=SEARCH.train_limit,
                   help="Training rows used by each trial (0: all)")
    p.add_argument("--batch-size", type=int, default=SEARCH.batch_size, help="batch size of each trial")
    p.add_argument("--seed", type=int, default=SEARCH.seed, help="seed of the search and of each trial")
    p.add_argument("--spark", metavar="MASTER_URL",
                   help="run trials in parallel on Spark through hyperopt's SparkTrials, e.g. local[2] or "
                        "spark://host:7077 (needs the 'spark' extra and Java)")
    p.add_argument("--parallelism", type=int, default=SEARCH.parallelism, help="trials run at once with --spark")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.max_evals < 1:
        fail(PROG, "--max-evals must be at least 1")
    from ..models.config import ConfigError, TrainingConfig

    try:
        config = TrainingConfig(data=args.data, model=args.model, features=args.features, epochs=args.epochs,
                                train_limit=args.train_limit, batch_size=args.batch_size, seed=args.seed,
                                early_stopping_patience=args.epochs + 1)
    except ConfigError as e:
        fail(PROG, str(e))

    def body():
        from ..features.io import load_manifest

        load_manifest(args.data)  # missing data answers before TensorFlow loads
        from ..models.search import load_trials, run_search
        trials = args.trials or os.path.join(args.out, SEARCH.trials_file)
        legacy = os.path.join(args.out, "trials.pickle")  # the default of older versions
        if not args.trials and not os.path.exists(trials) and os.path.exists(legacy):
            fail(PROG, f"{legacy}: trials of an older version, in pickle format (it can run code when read); "
                       f"if you made it yourself, resume with --trials {legacy} --trust-pickle")
        done = load_trials(trials, args.trust_pickle)  # so does a bad trials file
        load_keras(PROG)
        best = run_search(config, args.max_evals, trials, args.out, spark=args.spark, parallelism=args.parallelism,
                          seed=args.seed, trust_pickle=args.trust_pickle, trials=done)
        print(f"best PublicTest accuracy {best['val_accuracy']:.4f} (trial {best['trial']} of {best['n_trials']}, "
              f"{best['n_failed']} failed): {best['params']}")
        print(f"wrote {os.path.join(args.out, 'best.json')}; train with: fer-train --params "
              f"{os.path.join(args.out, 'best.json')} --data {args.data} --out runs/best")

    from ..features.io import DataError
    from ..models.search import SearchError
    from ..models.train import TrainingError

    return run(PROG, body, (SearchError, DataError, TrainingError))


if __name__ == "__main__":
    sys.exit(main())
