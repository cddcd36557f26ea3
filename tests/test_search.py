"""SVM baseline and hyperparameter search (resumable, failures recorded, Spark)."""

import json
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli, run_script, without_tensorflow

from fer_toolkit.models.bundle import load_bundle
from fer_toolkit.models.search import load_trials, run_search
from fer_toolkit.models.config import TrainingConfig



QUIET = lambda *_: None  # noqa: E731


def svm_config(data, out, **overrides):
    return TrainingConfig(**{"data": data, "out": str(out), "model": "svm", "features": "landmarks_hog_windows",
                             "svm_components": 500, **overrides})


def test_svm_on_real_slice_beats_chance_and_round_trips(real_features, tmp_path):
    from fer_toolkit.models.train import train_svm

    out = tmp_path / "svm"
    final = train_svm(svm_config(real_features, out), log=QUIET)
    labels = np.load(os.path.join(real_features, "PublicTest", "labels.npy"))
    majority = np.bincount(labels).max() / len(labels)
    assert final["val_accuracy"] >= majority + 0.08, (final, majority)
    assert (out / "model.skops").is_file() and (out / "confusion_matrix.png").is_file()
    with open(out / "model.skops", "rb") as f:
        assert f.read(2) == b"PK"  # a skops zip archive, not a pickle
    res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.evaluate", "--model", str(out),
                          "--data", real_features, "--split", "PublicTest", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["accuracy"] == pytest.approx(final["val_accuracy"])
    b1, b2 = load_bundle(str(out)), load_bundle(str(out))
    from fer_toolkit.features.io import load_split

    images, feats, _ = load_split(real_features, "PrivateTest", "landmarks_hog_windows", limit=50)
    np.testing.assert_array_equal(b1.predict_proba(images, feats), b2.predict_proba(images, feats))


def test_linear_svm_cli(synthetic_features, tmp_path):
    res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.train", "--model", "svm",
                          "--features", "landmarks", "--svm-kernel", "linear", "--data", synthetic_features,
                          "--out", str(tmp_path / "lin")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "lin" / "bundle.json").read_text())["kind"] == "svm"


def tiny_cnn_config(data):
    return TrainingConfig(data=data, model="A", features="landmarks", epochs=1, batch_size=32, filters_a=(4, 8),
                          image_units=8, feature_units=(8,), fusion_units=8, early_stopping_patience=5)


def test_search_runs_resumes_and_writes_best(synthetic_features, tmp_path):
    trials = tmp_path / "opt.trials"
    out = tmp_path / "opt"
    best = run_search(tiny_cnn_config(synthetic_features), 2, str(trials), str(out), log=QUIET)
    assert best["n_trials"] == 2
    assert json.loads(trials.read_text())["format"] == "fer-toolkit-trials"  # JSON, not a pickle
    first = load_trials(str(trials))
    tids = [t["tid"] for t in first.trials]
    seen = [t["misc"]["vals"] for t in first.trials]
    best = run_search(tiny_cnn_config(synthetic_features), 3, str(trials), str(out), log=QUIET)
    resumed = load_trials(str(trials))
    assert len(resumed.trials) == 3 and [t["tid"] for t in resumed.trials[:2]] == tids
    assert [t["misc"]["vals"] for t in resumed.trials[:2]] == seen  # finished trials were not re-run
    assert best["n_trials"] == 3
    for name in ("best.json", "trials.csv", "trials.png"):
        assert (out / name).is_file()
    # fer-train accepts best.json
    res = run_cli("train", "--params", out / "best.json", "--data", synthetic_features, "--out", tmp_path / "best-run",
                  "--epochs", "1", "--filters-a", "4,8", "--quiet")
    assert res.returncode == 0, res.stderr
    meta = json.loads((tmp_path / "best-run" / "bundle.json").read_text())
    params = json.loads((out / "best.json").read_text())["params"]
    assert meta["train_args"]["learning_rate"] == pytest.approx(params["learning_rate"])
    assert meta["train_args"]["epochs"] == 1


def test_diverging_trial_is_recorded_as_failed(synthetic_features, tmp_path, monkeypatch):
    from fer_toolkit import parameters
    from fer_toolkit.models import search

    space = parameters.OptimizerSearch(learning_rate=(1e30, 1e31), optimizers=("sgd",))  # overflows float32
    monkeypatch.setattr(search, "SEARCH", space)
    monkeypatch.setattr(search.search_space, "__defaults__", (space,))
    config = tiny_cnn_config(synthetic_features)
    config = config.updated(weight_decay=0.0)
    with pytest.raises(search.SearchError, match="no trial succeeded"):
        run_search(config, 2, str(tmp_path / "t.trials"), str(tmp_path / "out"), log=QUIET)
    trials = load_trials(str(tmp_path / "t.trials"))
    assert [t["result"]["status"] for t in trials.trials] == ["fail", "fail"]
    assert "diverged" in trials.trials[0]["result"]["error"] or "NaN" in trials.trials[0]["result"]["error"]


@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java (installed by .ci/run)")
def test_search_on_spark_local(synthetic_features, tmp_path):
    pytest.importorskip("pyspark")
    res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.optimize", "--data", synthetic_features,
                          "--model", "svm", "--features", "landmarks", "--max-evals", "2", "--spark", "local[2]",
                          "--parallelism", "2", "--out", str(tmp_path / "spark")],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    best = json.loads((tmp_path / "spark" / "best.json").read_text())
    assert best["n_trials"] == 2 and best["params"]["model"] == "svm"


class _CreatesFile:
    """Unpickling this calls ``open(path, "w")``: a file appears if pickle is used."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def svm_search_args(data, out, *extra):
    """fer-optimize's arguments for a search of linear-kernel SVMs on landmarks."""
    return ("--data", data, "--model", "svm", "--features", "landmarks", "--out", out, *extra)


def svm_search(data, out, *extra, env=None):
    return run_script("optimize", *svm_search_args(data, out, *extra), env=env)


def test_crafted_trials_pickle_runs_no_code(synthetic_features, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.trials"
    evil.write_bytes(pickle.dumps(_CreatesFile(str(marker))))
    res = svm_search(synthetic_features, tmp_path / "out", "--max-evals", 1, "--trials", evil)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert "--trust-pickle" in res.stderr and "pickle" in res.stderr
    assert not marker.exists()
    (tmp_path / "legacy").mkdir()  # the old default file name is pointed out, never read
    (tmp_path / "legacy" / "trials.pickle").write_bytes(pickle.dumps(_CreatesFile(str(marker))))
    res = svm_search(synthetic_features, tmp_path / "legacy", "--max-evals", 1)
    assert res.returncode == 1 and "--trust-pickle" in res.stderr and not marker.exists(), res.stderr


def test_old_pickle_trials_resume_only_when_trusted(synthetic_features, tmp_path):
    from fer_toolkit.models.search import save_trials

    out = tmp_path / "opt"
    assert run_cli("optimize", *svm_search_args(synthetic_features, out, "--max-evals", 1)).returncode == 0
    trials = load_trials(str(out / "trials.json"))
    old = tmp_path / "old.trials"
    old.write_bytes(pickle.dumps(save_trials(trials, str(tmp_path / "copy.json"))))  # as older versions wrote
    res = run_cli("optimize", *svm_search_args(synthetic_features, out, "--max-evals", 2, "--trials", old,
                                               "--trust-pickle"))
    assert res.returncode == 0, res.stderr
    said = res.stdout + res.stderr
    assert "warning: reading" in said and "with pickle (--trust-pickle)" in said and "resuming: 1 trial" in said
    resumed = load_trials(str(old))  # now JSON
    assert len(resumed.trials) == 2 and resumed.trials[0]["misc"]["vals"] == trials.trials[0]["misc"]["vals"]


@pytest.mark.parametrize("text", ["{", "[]", '{"format": "fer-toolkit-trials", "trials": [{"tid": "x"}]}',
                                  '{"format": "fer-toolkit-trials", "trials": [{"tid": 0, "state": 2, "misc": 1}]}'])
def test_malformed_trials_file_is_one_line(synthetic_features, tmp_path, text):
    (tmp_path / "t.json").write_text(text)
    res = svm_search(synthetic_features, tmp_path / "out", "--max-evals", 1, "--trials", tmp_path / "t.json",
                     env=without_tensorflow(tmp_path))  # refused before TensorFlow loads
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "t.json" in res.stderr, res.stderr
