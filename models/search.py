"""Hyperparameter search with hyperopt's TPE, resumable, optionally on Spark.

The objective is the PublicTest accuracy of a budgeted training run (a few
epochs, optionally on a Training subset); PrivateTest is never read. Trials
are saved to a file after every trial (after every round of parallel trials
on Spark), so re-running the same command resumes the search.
"""

import csv
import datetime
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from ..features.util import atomic_write, atomic_write_json
from ..parameters import SEARCH
from .config import TrainingConfig

TRIAL_KEYS = ("learning_rate", "decay", "optimizer", "momentum", "keep_prob", "svm_c", "svm_gamma")


class SearchError(Exception):
    """A problem that stops the search (one line)."""


def search_space(model, params=SEARCH):
    """The hyperopt search space of a model kind.

    Parameters
    ----------
    model : str
        ``A``, ``B`` or ``svm``.
    params : parameters.OptimizerSearch, optional

    Returns
    -------
    dict of str to hyperopt expression
    """
    from hyperopt import hp

    if model.lower() == "svm":
        return {
            "svm_c": hp.loguniform("svm_c", math.log(params.svm_c[0]), math.log(params.svm_c[1])),
            "svm_gamma": hp.loguniform("svm_gamma", math.log(params.svm_gamma[0]), math.log(params.svm_gamma[1])),
        }
    return {
        "learning_rate": hp.loguniform("learning_rate", math.log(params.learning_rate[0]),
                                       math.log(params.learning_rate[1])),
        "decay": hp.uniform("decay", *params.decay),
        "optimizer": hp.choice("optimizer", list(params.optimizers)),
        # momentum of sgd/rmsprop, beta_1 of adam
        "momentum": hp.uniform("momentum", *params.momentum),
        "keep_prob": hp.uniform("keep_prob", *params.keep_prob),
    }


def trial_settings(sample):
    """Training settings of a sampled point (momentum doubles as Adam's beta_1)."""
    settings = {k: (v.item() if hasattr(v, "item") else v) for k, v in sample.items()}
    if "momentum" in settings:
        settings["beta1"] = settings["momentum"]
    return settings


def objective(sample, base_config, work_dir):
    """Train with a sampled point and return hyperopt's result dict.

    Any failure (a diverging run, an exception) is a failed trial, not a
    crash of the search.
    """
    from hyperopt import STATUS_FAIL, STATUS_OK

    from .train import train, train_svm

    settings = trial_settings(sample)
    os.makedirs(work_dir, exist_ok=True)
    out = tempfile.mkdtemp(prefix="trial-", dir=work_dir)
    started = time.perf_counter()
    quiet = lambda *_: None  # noqa: E731
    try:
        config = base_config.updated(**settings, out=out)
        if config.model == "svm":
            final = train_svm(config, force=True, log=quiet)
        else:
            final = train(config, force=True, log=quiet, verbose=0)
        accuracy = float(final["val_accuracy"])
        if not np.isfinite(accuracy):
            raise ValueError("validation accuracy is not finite")
        return {"loss": -accuracy, "status": STATUS_OK, "val_accuracy": accuracy, "settings": settings,
                "seconds": round(time.perf_counter() - started, 1)}
    except Exception as e:  # a failed trial is recorded, the search goes on
        return {"status": STATUS_FAIL, "error": f"{type(e).__name__}: {e}".splitlines()[0][:300],
                "settings": settings, "seconds": round(time.perf_counter() - started, 1)}
    finally:
        shutil.rmtree(out, ignore_errors=True)


TRIALS_FORMAT = "fer-toolkit-trials"
#: Largest trials file read (a thousand trials take about 1 MB).
MAX_TRIALS_BYTES = 256 << 20
_PICKLE_MAGIC = b"\x80"


def _to_json(value):
    """``json.dump``'s fallback for the non-JSON values of hyperopt's trial documents."""
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in a trials file")


def _from_json(obj):
    """``json.load``'s object hook: the inverse of :func:`_to_json`."""
    if len(obj) == 1 and "$datetime" in obj:
        return datetime.datetime.fromisoformat(obj["$datetime"])
    return obj


def _check_trial(doc, i):
    """The problem with one trial document, or None."""
    if not isinstance(doc, dict):
        return f"trial {i} is not an object"
    misc, result = doc.get("misc"), doc.get("result")
    if not isinstance(doc.get("tid"), int) or not isinstance(doc.get("state"), int):
        return f"trial {i}: 'tid' and 'state' must be integers"
    if not isinstance(misc, dict) or not isinstance(result, dict):
        return f"trial {i}: 'misc' and 'result' must be objects"
    for key in ("idxs", "vals"):
        if not isinstance(misc.get(key), dict) or not all(isinstance(v, list) for v in misc[key].values()):
            return f"trial {i}: 'misc.{key}' must map names to lists"
    return None


def load_trials(path, trust_pickle=False, log=print):
    """Trials saved by an earlier run, or a new ``Trials``.

    Trials are stored as JSON (:func:`save_trials`), which cannot run code.
    Files of older versions are pickles, which can: they are read only with
    ``trust_pickle``.

    Parameters
    ----------
    path : str
    trust_pickle : bool, optional
        Read a pickle file (only for a file you made yourself).
    log : callable, optional
        Receives the warning about a trusted pickle.

    Returns
    -------
    hyperopt.Trials

    Raises
    ------
    SearchError
        An unreadable, malformed or (without ``trust_pickle``) pickled file.
    """
    from hyperopt import Trials

    if not path or not os.path.exists(path):
        return Trials()
    try:
        if os.path.isdir(path):
            raise SearchError(f"{path}: is a folder, not a trials file")
        if os.path.getsize(path) > MAX_TRIALS_BYTES:
            raise SearchError(f"{path}: over {MAX_TRIALS_BYTES >> 20} MB, not a trials file")
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise SearchError(f"{path}: cannot read ({e.strerror})") from None
    if raw[:1] == _PICKLE_MAGIC:
        return _load_pickled_trials(path, raw, trust_pickle, log)
    try:
        saved = json.loads(raw, object_hook=_from_json)
    except (ValueError, RecursionError) as e:
        raise SearchError(f"{path}: unreadable trials file ({str(e)[:100]})") from None
    if not isinstance(saved, dict) or saved.get("format") != TRIALS_FORMAT or not isinstance(saved.get("trials"), list):
        raise SearchError(f"{path}: not a fer-optimize trials file")
    docs = saved["trials"]
    for i, doc in enumerate(docs):
        problem = _check_trial(doc, i)
        if problem:
            raise SearchError(f"{path}: {problem}")
        if isinstance(doc["misc"].get("cmd"), list):
            doc["misc"]["cmd"] = tuple(doc["misc"]["cmd"])
    try:
        return _trials_of(docs)
    except Exception as e:  # hyperopt checks the documents with asserts and KeyErrors
        raise SearchError(f"{path}: malformed trial documents ({type(e).__name__}: {str(e)[:100]})") from None


def _trials_of(docs):
    """A plain hyperopt ``Trials`` holding trial documents."""
    from hyperopt import Trials

    trials = Trials()
    trials.insert_trial_docs(docs)
    trials.refresh()
    return trials


def _load_pickled_trials(path, raw, trust_pickle, log):
    """A trials pickle of an older version, read only when trusted."""
    if not trust_pickle:
        raise SearchError(f"{path}: a pickle (older fer-optimize trials format), which can run code when read: "
                          "refused. If you made this file yourself, add --trust-pickle to convert it to JSON")
    import pickle

    from hyperopt import Trials

    log(f"warning: reading {path} with pickle (--trust-pickle): this runs any code the file holds; "
        "it is saved as JSON from now on")
    try:
        trials = pickle.loads(raw)
    except Exception as e:
        raise SearchError(f"{path}: unreadable trials pickle ({type(e).__name__})") from None
    if not isinstance(trials, Trials):
        raise SearchError(f"{path}: not a hyperopt trials file")
    return trials


def save_trials(trials, path):
    """Save the trial documents as JSON, atomically, and return them as a
    plain ``Trials`` object (as :func:`load_trials` would read them back)."""
    docs = [dict(t) for t in trials.trials]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_json(path, {"format": TRIALS_FORMAT, "trials": docs}, default=_to_json)
    return _trials_of(docs)


def _spark_session(master):
    """A Spark session whose Python workers use this interpreter."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SearchError("--spark needs PySpark: pip install 'fer-toolkit[spark]' (and Java 17+)") from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SearchError("--spark needs Java: install a JRE (e.g. apt-get install openjdk-17-jre-headless)")
    return SparkSession.builder.master(master).appName("fer-optimize").getOrCreate()


def run_search(base_config, max_evals, trials_path, out_dir, spark=None, parallelism=SEARCH.parallelism, seed=SEARCH.seed,
               trust_pickle=False, log=print, trials=None):
    """Run (or resume) a TPE search and write its results.

    Parameters
    ----------
    base_config : models.config.TrainingConfig or dict
        Training configuration every trial starts from (budget included).
    max_evals : int
        Total number of trials, counting those already in ``trials_path``.
    trials_path : str
        Trials file, written after every trial (or round of parallel trials).
    out_dir : str
        Receives ``best.json``, ``trials.csv`` and ``trials.png``.
    spark : str, optional
        Spark master URL (e.g. ``local[2]`` or ``spark://host:7077``): run
        trials in parallel through hyperopt's ``SparkTrials``.
    parallelism : int, optional
        Trials run at once on Spark.
    seed : int, optional
    trust_pickle : bool, optional
        Read a trials file of the old pickle format (it can run code).
    trials : hyperopt.Trials, optional
        ``trials_path``'s trials read already (:func:`load_trials`), so that a
        caller can refuse a bad file before loading TensorFlow; else read here.

    Returns
    -------
    dict
        The contents of ``best.json``.
    """
    from hyperopt import fmin, tpe
    from hyperopt.exceptions import AllTrialsFailed

    if trials is None:
        trials = load_trials(trials_path, trust_pickle, log)
    if isinstance(base_config, dict):
        base_config = TrainingConfig.from_dict(base_config)
    space = search_space(base_config.model)
    work_dir = os.path.join(out_dir, "trial-runs")
    fn = _Objective(base_config, work_dir)
    done = len(trials.trials)
    if done:
        log(f"resuming: {done} trial(s) already in {trials_path}")
    session = _spark_session(spark) if spark else None
    while done < max_evals:
        step = min(parallelism, max_evals - done) if session else 1
        if session:
            from hyperopt import SparkTrials

            current = SparkTrials(parallelism=step, spark_session=session)
            current.insert_trial_docs([dict(t) for t in trials.trials])
            current.refresh()
        else:
            current = trials
        try:
            fmin(fn, space, algo=tpe.suggest, max_evals=done + step, trials=current,
                 rstate=np.random.default_rng(seed + done), show_progressbar=False, return_argmin=False)
        except AllTrialsFailed:  # raised after the trials ran, when none has succeeded yet
            pass
        trials = save_trials(current, trials_path)
        for t in trials.trials[done:]:
            result = t["result"]
            status = (f"PublicTest accuracy {result['val_accuracy']:.4f}" if result.get("status") == "ok"
                      else f"failed ({result.get('error', 'unknown error')})")
            log(f"trial {t['tid'] + 1}/{max_evals}: {status}  {json.dumps(result.get('settings', {}))}")
        if len(trials.trials) == done:
            raise SearchError("hyperopt ran no new trial; see the Spark or hyperopt log above")
        done = len(trials.trials)
    return write_results(trials, base_config, out_dir)


class _Objective:
    """Picklable objective (SparkTrials ships it to the workers)."""

    def __init__(self, base_config, work_dir):
        self.base_config = base_config
        self.work_dir = os.path.abspath(work_dir)

    def __call__(self, sample):
        return objective(sample, self.base_config, self.work_dir)


def write_results(trials, base_config, out_dir):
    """``best.json``, ``trials.csv`` and ``trials.png`` of finished trials."""
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for t in trials.trials:
        result = t["result"]
        rows.append({"trial": t["tid"] + 1, "status": result.get("status"),
                     "val_accuracy": result.get("val_accuracy", ""), "seconds": result.get("seconds", ""),
                     **{k: result.get("settings", {}).get(k, "") for k in TRIAL_KEYS},
                     "error": result.get("error", "")})
    columns = ["trial", "status", "val_accuracy", "seconds", *[k for k in TRIAL_KEYS if any(r[k] != "" for r in rows)], "error"]
    with atomic_write(os.path.join(out_dir, "trials.csv"), newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        raise SearchError("no trial succeeded; see trials.csv for the errors")
    best = max(ok, key=lambda r: r["val_accuracy"])
    best_trial = next(t for t in trials.trials if t["tid"] + 1 == best["trial"])
    settings = dict(best_trial["result"]["settings"])
    result = {"params": {"model": base_config.model, "features": base_config.features, **settings},
              "val_accuracy": best["val_accuracy"], "trial": best["trial"], "n_trials": len(rows),
              "n_failed": len(rows) - len(ok),
              "budget": {"epochs": base_config.epochs, "train_limit": base_config.train_limit}}
    atomic_write_json(os.path.join(out_dir, "best.json"), result)
    _plot_trials(rows, os.path.join(out_dir, "trials.png"))
    return result


def _plot_trials(rows, path):
    """Objective (PublicTest accuracy) per trial and the best so far."""
    from .plots import new_figure, save_figure, whole_number_ticks

    fig = new_figure((7, 4))
    ax = fig.subplots()
    xs = [r["trial"] for r in rows if r["status"] == "ok"]
    ys = [r["val_accuracy"] for r in rows if r["status"] == "ok"]
    ax.scatter(xs, ys, label="trial")
    ax.plot(xs, np.maximum.accumulate(ys) if ys else [], color="C1", label="best so far")
    failed = [r["trial"] for r in rows if r["status"] != "ok"]
    if failed:
        ax.scatter(failed, [min(ys) if ys else 0] * len(failed), marker="x", color="C3", label="failed")
    ax.set_xlabel("trial")
    whole_number_ticks(ax)
    ax.set_ylabel("PublicTest accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
