"""Training: a real run beats chance, resume equals an uninterrupted run,
bundles round-trip, flips mirror landmarks, evaluation and ensembles."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fer_toolkit.features.io import load_arrays
from fer_toolkit.features.landmarks import MIRROR, flip_landmarks
from fer_toolkit.models.augment import augment_batch
from fer_toolkit.models.config import TrainingConfig
from fer_toolkit.models.bundle import BundleError, load_bundle
from fer_toolkit.models.evaluate import evaluate
from fer_toolkit.models.train import finish_run, train

from conftest import ROOT, run_cli

QUIET = dict(log=lambda *_: None, verbose=0)


def config(data, out, **overrides):
    return TrainingConfig(**{"data": data, "out": str(out), "epochs": 2, "batch_size": 32, "seed": 7, **overrides})


def weights_of(path):
    import keras

    return keras.models.load_model(path, compile=False).get_weights()


def run_file(run, key):
    """A file of a run folder named by its state.json (``checkpoint`` or ``swa_file``)."""
    return run / json.loads((run / "state.json").read_text())[key]


def test_flip_mirrors_landmarks():
    lm = np.random.default_rng(0).uniform(0, 47, (4, 68, 2)).astype(np.float32)
    flipped = flip_landmarks(lm, 48)
    np.testing.assert_allclose(flipped[:, 36, 0], 47 - lm[:, 45, 0])  # outer eye corners swap
    np.testing.assert_allclose(flipped[:, 36, 1], lm[:, 45, 1])
    np.testing.assert_allclose(flipped[:, 30], np.stack([47 - lm[:, 30, 0], lm[:, 30, 1]], -1))  # nose tip stays
    np.testing.assert_allclose(flip_landmarks(flipped, 48), lm, atol=1e-5)  # an involution
    assert sorted(MIRROR) == list(range(68)) and all(MIRROR[MIRROR] == np.arange(68))


def test_flip_of_real_faces_matches_dlib_on_the_flipped_image(real_features):
    from fer_toolkit.features.landmarks import landmarks_batch

    arrays = load_arrays(real_features, "PublicTest", ("landmarks",), limit=200)
    on_flipped = landmarks_batch(np.ascontiguousarray(arrays["images"][:, :, ::-1]))
    mirrored = flip_landmarks(arrays["landmarks"], 48)
    # dlib is not exactly mirror-symmetric: agree to within a couple of pixels on average.
    assert np.median(np.abs(on_flipped - mirrored)) <= 1.5


def test_augmentation_moves_landmarks_with_the_image():
    rng = np.random.default_rng(0)
    images = np.zeros((50, 48, 48), np.uint8)
    lm = np.tile(np.array([[20.0, 16.0]], np.float32), (50, 68, 1))
    images[:, 15:18, 19:22] = 255  # a bright dot under landmark (20, 16)
    from fer_toolkit.parameters import TRAINING

    params = TRAINING.__class__(noise_std=0, cutout_prob=0, sharpness_prob=0, contrast_range=(1, 1))
    out, moved = augment_batch(images, lm, rng, params)
    for img, pts in zip(out, moved):
        y, x = np.unravel_index(np.argmax(img), img.shape)
        assert abs(pts[0, 0] - x) <= 1.5 and abs(pts[0, 1] - y) <= 1.5
    # Zoom alone (about the centre): the dot and its landmark move together, nearer or farther.
    zoom = TRAINING.__class__(noise_std=0, cutout_prob=0, sharpness_prob=0, contrast_range=(1, 1), flip_prob=0,
                              max_shift=0, max_rotation_deg=0, max_scale=0.3)
    out, moved = augment_batch(images, lm, rng, zoom)
    distances = []
    for img, pts in zip(out, moved):
        y, x = np.unravel_index(np.argmax(img), img.shape)
        assert abs(pts[0, 0] - x) <= 1.5 and abs(pts[0, 1] - y) <= 1.5
        distances.append(np.hypot(pts[0, 0] - 23.5, pts[0, 1] - 23.5) / np.hypot(20 - 23.5, 16 - 23.5))
    assert 0.7 <= min(distances) < 0.85 and 1.15 < max(distances) <= 1.3


def test_short_real_training_beats_chance(real_features, tmp_path):
    out = tmp_path / "run"
    final = train(config(real_features, out, model="A", features="landmarks_hog_windows", epochs=6,
                         batch_size=64, optimizer="adam", learning_rate=1e-3), **QUIET)
    finish_run(str(out), real_features, final, log=lambda *_: None)
    labels = np.load(os.path.join(real_features, "PublicTest", "labels.npy"))
    majority = np.bincount(labels).max() / len(labels)
    assert final["val_accuracy"] >= majority + 0.05, (final, majority)
    assert run_file(out, "checkpoint").name == "checkpoint-0006.keras"
    assert sorted(p.name for p in out.glob("checkpoint*")) == ["checkpoint-0006.keras"]  # older epochs' removed
    for name in ("model.keras", "bundle.json", "history.csv", "training_curves.png",
                 "classification_report.csv", "confusion_matrix.png"):
        assert (out / name).is_file(), name
    if shutil.which("dot"):  # Graphviz present: Keras draws the architecture
        assert (out / "architecture.png").is_file()
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["feature_set"] == "landmarks_hog_windows" and len(meta["normalization"]["mean"]) == 1936
    assert meta["metrics"]["PublicTest"]["accuracy"] == pytest.approx(final["val_accuracy"])


def test_bfloat16_copy_of_the_shipped_model_answers_as_float32(real_features):
    """with_precision: the shipped model computing in bfloat16 (its classification layer in float32)
    gives the float32 model's answers on real faces, and copied back to float32 it is the same model."""
    import keras

    from fer_toolkit.features.io import load_split
    from fer_toolkit.models.bundle import FER2013_MODEL
    from fer_toolkit.models.ensemble import first_member
    from fer_toolkit.models.precision import model_precision, with_precision

    bundle = first_member(load_bundle(FER2013_MODEL))  # one network (fer2013 averages two)
    images, features, labels = load_split(real_features, "PrivateTest", bundle.feature_set, limit=400)
    expected = bundle.predict_proba(images, features)
    mixed = with_precision(bundle.model, "mixed_bfloat16")
    dtypes = {layer.name: layer.compute_dtype for layer in mixed.layers
              if not isinstance(layer, keras.layers.InputLayer)}
    assert dtypes.pop("probabilities") == "float32" and set(dtypes.values()) == {"bfloat16"}
    assert model_precision(mixed) == "mixed_bfloat16" and with_precision(mixed, "mixed_bfloat16") is mixed
    bundle.model = mixed
    got = bundle.predict_proba(images, features)
    assert got.dtype == np.float32 and np.mean(got.argmax(1) == expected.argmax(1)) >= 0.97
    assert abs(np.mean(got.argmax(1) == labels) - np.mean(expected.argmax(1) == labels)) <= 0.01
    back = with_precision(mixed, "float32")
    assert model_precision(back) == "float32"
    for a, b in zip(back.get_weights(), first_member(load_bundle(FER2013_MODEL)).model.get_weights()):
        np.testing.assert_array_equal(a, b)
    bundle.model = back
    np.testing.assert_allclose(bundle.predict_proba(images, features), expected, atol=1e-6)


def test_bfloat16_run_resumes_in_bfloat16_and_ships_float32(real_features, tmp_path):
    """--precision mixed_bfloat16: checkpoints compute in bfloat16 and --resume keeps it; the bundle is a
    float32 model whose PublicTest accuracy is the run's own (measured in bfloat16) within a few faces."""
    import keras

    from fer_toolkit.models.precision import model_precision

    base = dict(model="B", features="landmarks_hog_windows", filters_b=[8, 16], image_units=16, feature_units=[16],
                fusion_units=16, precision="mixed_bfloat16")
    out = tmp_path / "bf16"
    train(config(real_features, out, epochs=1, **base), **QUIET)
    final = train(config(real_features, out, epochs=3, precision="float32"), resume=True, **QUIET)
    assert final["epochs_run"] == 3
    state = json.loads((out / "state.json").read_text())
    assert state["config"]["precision"] == "mixed_bfloat16"  # the run's own, as every setting but its length
    checkpoint = keras.models.load_model(run_file(out, "checkpoint"), compile=False)
    assert model_precision(checkpoint) == "mixed_bfloat16"
    assert checkpoint.get_layer("probabilities").compute_dtype == "float32"
    assert model_precision(load_bundle(str(out)).model) == "float32"
    finish_run(str(out), real_features, final, log=lambda *_: None)
    meta = json.loads((out / "bundle.json").read_text())
    assert abs(meta["metrics"]["PublicTest"]["accuracy"] - final["val_accuracy"]) <= 0.01
    assert meta["metrics"]["val_accuracy"] == final["val_accuracy"] > 0.3


def test_resume_equals_uninterrupted(synthetic_features, tmp_path):
    base = dict(model="B", features="landmarks_hog", filters_b=[8, 16], image_units=16, feature_units=[16],
                fusion_units=16, deterministic=True)
    whole = tmp_path / "whole"
    train(config(synthetic_features, whole, epochs=3, **base), **QUIET)
    split = tmp_path / "split"
    train(config(synthetic_features, split, epochs=1, **base), **QUIET)
    with pytest.raises(Exception, match="--resume"):
        train(config(synthetic_features, split, epochs=3, **base), **QUIET)
    train(config(synthetic_features, split, epochs=3, **base), resume=True, **QUIET)
    for a, b in zip(weights_of(run_file(whole, "checkpoint")), weights_of(run_file(split, "checkpoint"))):
        np.testing.assert_array_equal(a, b)
    h1, h2 = (json.loads((d / "state.json").read_text())["history"] for d in (whole, split))
    assert [r["val_loss"] for r in h1] == [r["val_loss"] for r in h2]


def test_weight_averaging_resumes_and_averages_the_epochs(synthetic_features, tmp_path):
    base = dict(model="B", features="landmarks_hog", filters_b=[8, 16], image_units=16, feature_units=[16],
                fusion_units=16, deterministic=True, epochs=2)
    whole = tmp_path / "whole"
    final = train(config(synthetic_features, whole, swa_epochs=2, **base), **QUIET)
    assert final["swa_epochs"] == 2 and final["epochs_run"] == 4 and final["stopped"] == "epochs"
    history = json.loads((whole / "state.json").read_text())["history"]
    assert [r["swa_models"] for r in history] == [0, 0, 1, 2]
    assert [r["learning_rate"] for r in history][2:] == [1e-4, 1e-4]
    # A run stopped after the first averaged epoch, and resumed: the same weights and the same average.
    split = tmp_path / "split"
    train(config(synthetic_features, split, swa_epochs=1, **base), **QUIET)
    after_3 = weights_of(run_file(split, "checkpoint"))
    train(config(synthetic_features, split, swa_epochs=2, **base), resume=True, **QUIET)
    after_4 = weights_of(run_file(split, "checkpoint"))
    assert json.loads((split / "state.json").read_text())["config"]["swa_epochs"] == 2  # the run's new length
    for a, b in zip(weights_of(run_file(whole, "checkpoint")), after_4):
        np.testing.assert_array_equal(a, b)
    import keras

    model = keras.models.load_model(run_file(whole, "checkpoint"), compile=False)
    trainable = {id(v) for v in model.trainable_weights}
    mask = [id(v) in trainable for v in model.weights]
    expected = [(w3 + w4) / 2 for w3, w4, t in zip(after_3, after_4, mask) if t]
    for path in (whole, split):
        with np.load(run_file(path, "swa_file")) as saved:
            assert int(saved["count"]) == 2
            for i, e in enumerate(expected):
                np.testing.assert_allclose(saved[f"arr_{i}"], e, rtol=1e-5, atol=1e-7)
    assert [r["val_loss"] for r in history] == \
        [r["val_loss"] for r in json.loads((split / "state.json").read_text())["history"]]
    # Resuming a finished run trains nothing more.
    assert train(config(synthetic_features, split, swa_epochs=2, **base), resume=True, **QUIET)["epochs_run"] == 4


def test_recompute_batch_norm_takes_the_mean_of_the_batches(synthetic_features):
    import keras

    from fer_toolkit.models.train import build_from_config, load_training_data, recompute_batch_norm

    c = config(synthetic_features, "unused", model="B", features="landmarks", filters_b=[8], image_units=8,
               feature_units=[8], fusion_units=8)
    train_data, _, standardizer, _ = load_training_data(c)
    model = build_from_config(c, 7, train_data["features"].shape[1])
    bn = model.get_layer("b1b_bn")  # after two convolutions, no dropout before it
    images = train_data["images"][:96]
    assert recompute_batch_norm(model, images, train_data["features"][:96], standardizer, batch_size=32) >= 2
    probe = keras.Model(model.inputs, bn.input)
    from fer_toolkit.models.bundle import model_inputs

    acts = np.asarray(probe(model_inputs(images, standardizer(train_data["features"][:96])), training=False))
    axes = tuple(range(acts.ndim - 1))
    batches = [acts[i:i + 32] for i in range(0, 96, 32)]
    np.testing.assert_allclose(bn.moving_mean.numpy(), acts.mean(axis=axes), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([b.var(axis=axes) for b in batches], axis=0),
                               rtol=1e-3, atol=1e-4)
    assert bn.momentum == 0.99  # restored


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_kill_and_ctrl_c_stop_cleanly_and_resume(synthetic_features, tmp_path, signum):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "fer_toolkit.scripts.train", "--data", synthetic_features, "--out", str(out),
           "--quiet"]
    proc = subprocess.Popen([*cmd, "--model", "A", "--features", "landmarks", "--batch-size", "8", "--epochs", "1000",
                             "--early-stopping-patience", "1000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 240
    while not (out / "state.json").is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if not (out / "state.json").is_file():  # signal only a run that is training, not one still starting
        proc.kill()
        pytest.fail("no epoch finished within 240 s: " + proc.communicate()[1][-2000:])
    proc.send_signal(signum)  # once: the run must stop by itself
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not stop within 120 s of one signal: " + proc.communicate()[1][-2000:])
    assert proc.returncode == 130, err[-2000:]
    state = json.loads((out / "state.json").read_text())
    last = err.strip().splitlines()[-1]
    assert f"interrupted: epoch {state['epoch']} is saved" in last and "Traceback" not in err
    assert f"--data {synthetic_features} --out {out} --resume" in last  # the hint runs as printed
    assert 1 <= state["epoch"] < 1000 and len(state["history"]) == state["epoch"]
    assert (out / "training_curves.png").stat().st_size > 0 and (out / "history.csv").is_file()  # nothing lost
    # Resuming keeps the run's own settings (not the flags' defaults); only the length given changes.
    res = run_cli("train", *cmd[3:], "--resume", "--epochs", state["epoch"] + 1)
    assert res.returncode == 0, res.stderr[-2000:]
    resumed = json.loads((out / "state.json").read_text())
    assert resumed["epoch"] == state["epoch"] + 1 and resumed["config"]["epochs"] == state["epoch"] + 1
    assert {k: resumed["config"][k] for k in ("batch_size", "early_stopping_patience", "features")} == \
        {"batch_size": 8, "early_stopping_patience": 1000, "features": "landmarks"}


def test_signal_while_starting_exits_at_once_and_saves_nothing(synthetic_features, tmp_path):
    # 1.5 s in, fer-train is importing TensorFlow, where a KeyboardInterrupt was once lost, or loading:
    # either way one Ctrl-C ends it, with nothing to resume.
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "fer_toolkit.scripts.train", "--data", synthetic_features,
                             "--out", str(out), "--quiet", "--model", "A", "--epochs", "1000", "--batch-size", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("one Ctrl-C did not stop fer-train within 60 s: " + proc.communicate()[1][-2000:])
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 130, err[-2000:]
    assert last in ("fer-train: error: interrupted while starting",
                    "fer-train: error: interrupted before the first epoch finished: nothing was saved"), err[-2000:]
    assert "Traceback" not in err and not (out / "state.json").exists()


def test_bundle_round_trip_and_evaluation(synthetic_features, tmp_path):
    out = tmp_path / "run"
    train(config(synthetic_features, out, model="A", features="landmarks", epochs=1), **QUIET)
    bundle = load_bundle(str(out))
    arrays = load_arrays(synthetic_features, "PrivateTest", ("landmarks",))
    feats = arrays["landmarks"].reshape(len(arrays["images"]), -1)
    p1 = bundle.predict_proba(arrays["images"], feats)
    p2 = load_bundle(str(out)).predict_proba(arrays["images"], feats)
    np.testing.assert_array_equal(p1, p2)
    result = evaluate([str(out)], synthetic_features, "PrivateTest")
    assert set(result) >= {"accuracy", "macro_f1", "per_class", "confusion", "n"}
    assert result["n"] == 96 and np.sum(result["confusion"]) == 96
    assert result["accuracy"] == pytest.approx(np.mean(p1.argmax(1) == arrays["labels"]))
    from sklearn.metrics import f1_score

    assert result["macro_f1"] == pytest.approx(f1_score(arrays["labels"], p1.argmax(1), average="macro"))


def test_macro_f1_counts_only_classes_seen_as_labels_or_answers():
    """A photo folder without fear faces, where no face is called Fear: macro-F1 is scikit-learn's,
    over the classes that are labels or answers (a class absent from both would count as 0)."""
    from sklearn.metrics import f1_score

    from fer_toolkit.models.evaluate import metrics

    rng = np.random.default_rng(0)
    labels = rng.choice([0, 1, 3, 4], size=200)
    probabilities = rng.random((200, 5))
    probabilities[:, 2] = 0  # never answered
    result = metrics(probabilities, labels, ["a", "b", "c", "d", "e"])
    assert result["macro_f1"] == pytest.approx(f1_score(labels, probabilities.argmax(1), average="macro"))
    assert result["per_class"]["c"]["support"] == 0


def test_evaluate_cli_json_and_ensemble(synthetic_features, tmp_path):
    runs = []
    for i, fs in enumerate(("none", "landmarks_hog")):
        out = tmp_path / f"run{i}"
        train(config(synthetic_features, out, model="A", features=fs, epochs=1, seed=i), **QUIET)
        runs.append(str(out))
    res = run_cli("evaluate", "--data", synthetic_features, "--split", "PrivateTest", "--json", "--out",
                  tmp_path / "ens", "--model", runs[0], "--model", runs[1])
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert len(result["members"]) == 2 and result["n"] == 96
    assert (tmp_path / "ens" / "confusion_matrix.png").is_file()
    assert (tmp_path / "ens" / "classification_report.csv").is_file()
    assert result["tta"] is False
    res = run_cli("evaluate", "--data", synthetic_features, "--split", "PrivateTest", "--tta", "--model", runs[0],
                  "--model", runs[1])
    assert res.returncode == 0, res.stderr
    assert "with flip TTA" in res.stdout and (tmp_path / "run0" / "eval-PrivateTest-ensemble-tta").is_dir()


def test_evaluate_errors_are_one_line(synthetic_features, tmp_path):
    out = tmp_path / "run"
    train(config(synthetic_features, out, model="A", features="landmarks", epochs=1), **QUIET)
    cases = {
        "missing bundle": ["--model", str(tmp_path / "nope"), "--data", synthetic_features],
        "missing data": ["--model", str(out), "--data", str(tmp_path / "nodata")],
    }
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "bundle.json").write_text((out / "bundle.json").read_text())
    (corrupt / "model.keras").write_bytes(b"not a zip")
    cases["corrupt bundle"] = ["--model", str(corrupt), "--data", synthetic_features]
    for name, args in cases.items():
        res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.evaluate", *args], capture_output=True, text=True, timeout=300)
        assert res.returncode != 0, name
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr, (name, res.stderr)
    with pytest.raises(BundleError):
        load_bundle(str(corrupt))


def test_mirrored_strategy_on_two_logical_cpus(real_features, tmp_path):
    out = tmp_path / "mirrored"
    res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.train", "--data", real_features,
                          "--out", str(out), "--model", "A", "--features", "landmarks", "--epochs", "2",
                          "--train-limit", "1024", "--val-limit", "256", "--optimizer", "adam",
                          "--learning-rate", "0.001", "--no-augment", "--batch-size", "32",
                          "--distribute", "mirrored", "--cpu-devices", "2", "--quiet"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "MirroredStrategy over 2 replica(s)" in res.stdout
    history = json.loads((out / "state.json").read_text())["history"]
    assert len(history) == 2 and all(np.isfinite(h["loss"]) for h in history)
    assert history[1]["loss"] < history[0]["loss"]  # it trains
    assert load_bundle(str(out)).predict_proba(np.zeros((2, 48, 48), np.uint8), np.zeros((2, 136))).shape == (2, 7)


TINY_B = dict(model="B", features="landmarks_hog", filters_b=[8, 16], image_units=16, feature_units=[16],
              fusion_units=16, deterministic=True)


def test_kill_between_checkpoint_and_state_resumes_the_right_epoch(synthetic_features, tmp_path):
    """A kill after epoch 2's checkpoint is written but before its state: the
    state still names epoch 1's checkpoint, and resuming equals an uninterrupted run."""
    from fer_toolkit.models.train import KILL_AFTER_CHECKPOINT_ENV

    whole = tmp_path / "whole"
    train(config(synthetic_features, whole, epochs=3, **TINY_B), **QUIET)
    killed = tmp_path / "killed"
    code = ("import sys, json; from fer_toolkit.models.train import train; "
            "train(json.loads(sys.argv[2]), log=lambda *_: None, verbose=0)")
    res = subprocess.run([sys.executable, "-c", code, ROOT, json.dumps(config(synthetic_features, killed, epochs=3,
                                                                                **TINY_B).to_json())],
                         env={**os.environ, KILL_AFTER_CHECKPOINT_ENV: "2"}, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    state = json.loads((killed / "state.json").read_text())
    assert state["epoch"] == 1 and state["checkpoint"] == "checkpoint-0001.keras"
    assert (killed / "checkpoint-0002.keras").is_file()  # the newer checkpoint exists, but is not the state's
    train(config(synthetic_features, killed, epochs=3, **TINY_B), resume=True, **QUIET)
    for a, b in zip(weights_of(run_file(whole, "checkpoint")), weights_of(run_file(killed, "checkpoint"))):
        np.testing.assert_array_equal(a, b)
    h1, h2 = (json.loads((d / "state.json").read_text())["history"] for d in (whole, killed))
    assert [r["val_loss"] for r in h1] == [r["val_loss"] for r in h2]
    assert sorted(p.name for p in killed.glob("checkpoint*")) == ["checkpoint-0003.keras"]


def test_corrupt_run_state_or_checkpoint_is_one_line(synthetic_features, tmp_path):
    from fer_toolkit.models.train import TrainingError

    run = tmp_path / "run"
    train(config(synthetic_features, run, epochs=1, **TINY_B), **QUIET)
    good = (run / "state.json").read_text()
    state = json.loads(good)
    cases = {
        "truncated": (good[:100], "corrupt run state"),
        "missing key": (json.dumps({k: v for k, v in state.items() if k != "epoch"}), "'epoch'"),
        "wrong type": (json.dumps({**state, "history": "x"}), "'history'"),
        "epoch out of step": (json.dumps({**state, "epoch": 5}), "'epoch'"),
        "bad config value": (json.dumps({**state, "config": {**state["config"], "batch_size": "big"}}),
                             "'config.batch_size'"),
        "checkpoint outside the run": (json.dumps({**state, "checkpoint": "../x.keras"}), "'checkpoint'"),
    }
    for name, (text, expected) in cases.items():
        (run / "state.json").write_text(text)
        with pytest.raises(TrainingError) as info:
            train(config(synthetic_features, run, epochs=2, **TINY_B), resume=True, **QUIET)
        assert expected in str(info.value) and "state.json" in str(info.value), (name, str(info.value))
    (run / "state.json").write_text(good)
    checkpoint = run_file(run, "checkpoint")
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
    res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.train", "--data", synthetic_features,
                          "--out", str(run), "--resume", "--epochs", "2"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr[-2000:]
    assert "checkpoint-0001.keras" in res.stderr and "corrupt checkpoint" in res.stderr


def test_distillation_mixes_an_ensembles_answers_into_the_targets(real_features, tmp_path):
    """fer-train --teacher: the shipped two-network fer2013's probabilities on the Training faces,
    computed once and kept in the run folder, make half of each target; a resumed run reads them back
    (the same call as --resume makes), a teacher of other classes or none at all is refused in one line."""
    from fer_toolkit.models.bundle import resolve_model
    from fer_toolkit.models.evaluate import predict_split
    from fer_toolkit.models.train import distil, load_training_data

    out = tmp_path / "student"
    common = ["--data", real_features, "--out", out, "--train-limit", 300, "--val-limit", 200, "--quiet"]
    result = run_cli("train", *common, "--model", "A", "--features", "landmarks", "--teacher", "fer2013",
                     "--epochs", 1)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "teacher fer2013: probabilities on 300 Training faces" in result.stdout
    agree = float(result.stdout.split("agree with the labels on ")[1].split("%")[0])
    kept = np.load(out / "teacher_probabilities.npy")
    expected, labels = predict_split(load_bundle(resolve_model("fer2013")), real_features, "Training", limit=300)
    np.testing.assert_allclose(kept, expected, atol=1e-5)
    assert agree == pytest.approx(100 * np.mean(expected.argmax(1) == labels), abs=0.05)
    assert 60 < agree < 100  # the teacher trained on these faces: it mostly agrees, never entirely
    assert json.loads((out / "bundle.json").read_text())["train_args"]["teacher"] == ["fer2013"]

    # The targets: half the one-hot label, half the teacher, read back from the run folder as --resume does.
    cfg = config(real_features, out, teacher=("fer2013",), train_limit=300, val_limit=200)
    train_data, _, _, manifest = load_training_data(cfg)
    lines = []
    distil(train_data, cfg, manifest["classes"], str(out / "teacher_probabilities.npy"), log=lines.append)
    assert len(lines) == 1 and lines[0].startswith("distilling from fer2013")  # no teacher ran again
    np.testing.assert_allclose(train_data["targets"], 0.5 * np.eye(7)[labels] + 0.5 * expected, atol=1e-5)

    for flags, message in ((["--teacher", "ferplus"], "differ from the data's"),
                           (["--teacher", str(tmp_path / "nothing")], "no such"),
                           (["--teacher", "fer2013", "--teacher-weight", "1.5"], "teacher_weight must be"),
                           (["--teacher", "fer2013", "--model", "svm"], "does not apply to the SVM")):
        refused = run_cli("train", *common[:-1], "--force", "--epochs", 1, *flags)
        assert refused.returncode != 0 and message in refused.stderr, (flags, refused.stderr[-500:])
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
