"""Files from strangers: crafted model bundles and trials files run no code,
corrupt ones give one line naming the file and the field."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from models.bundle import SVM_NODES, BundleError, load_bundle, skops_nodes

from conftest import ROOT

PRETRAINED = os.path.join(ROOT, "models", "pretrained")


def run_script(name, *args, env=None, timeout=300):
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", f"{name}.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def one_line_error(res, prog):
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error:"), res.stderr
    return lines[0]


@pytest.fixture(scope="module")
def svm_bundles(synthetic_features, tmp_path_factory):
    """Real SVM bundles of both kernels, written by fer-train."""
    out = tmp_path_factory.mktemp("svm")
    for kernel in ("linear", "rbf"):
        res = run_script("train", "--model", "svm", "--features", "landmarks", "--svm-kernel", kernel,
                         "--svm-components", 50, "--data", synthetic_features, "--out", out / kernel)
        assert res.returncode == 0, res.stderr
    return out


def test_svm_allow_list_is_exactly_what_fer_train_writes(svm_bundles):
    seen = set()
    for kernel in ("linear", "rbf"):
        seen |= skops_nodes(str(svm_bundles / kernel / "model.skops"))
        load_bundle(str(svm_bundles / kernel))  # loads
    assert seen == SVM_NODES
    assert not any(t.endswith((".", "*")) for _, t in SVM_NODES)  # exact types, no prefixes


def test_crafted_svm_bundle_runs_no_code(svm_bundles, synthetic_features, tmp_path):
    """Only scikit-learn and NumPy types, yet it would exec a string when used."""
    import skops.io
    from numpy.testing._private.utils import runstring
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w').write('ran')"
    real = load_bundle(str(svm_bundles / "linear")).model
    evil = Pipeline([
        ("text", FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": "O"})),
        ("first", FunctionTransformer(np.min)),
        ("run", FunctionTransformer(runstring, kw_args={"dict": {}})),
        ("svm", real.steps[-1][1]),
    ])
    bundle = tmp_path / "evil"
    shutil.copytree(svm_bundles / "linear", bundle)
    skops.io.dump(evil, str(bundle / "model.skops"))
    untrusted = skops.io.get_untrusted_types(file=str(bundle / "model.skops"))
    assert untrusted and all(t.startswith(("numpy.", "sklearn.")) for t in untrusted)  # a prefix list admits it

    with pytest.raises(BundleError, match="refuses to load"):
        load_bundle(str(bundle))
    line = one_line_error(run_script("evaluate", "--model", bundle, "--data", synthetic_features,
                                     "--out", tmp_path / "eval"), "fer-evaluate")
    assert "runstring" in line
    one_line_error(run_script("predict", os.path.join(ROOT, "..", "shared", "samples", "obama.jpg"),
                              "--model", bundle), "fer-predict")
    assert not marker.exists()


def test_keras_lambda_layer_is_refused(tmp_path):
    import keras

    bundle = tmp_path / "lambda"
    shutil.copytree(PRETRAINED, bundle)
    meta = json.loads((bundle / "bundle.json").read_text())
    image = keras.Input((48, 48, 1), name="image")
    features = keras.Input((len(meta["normalization"]["mean"]),), name="features")
    x = keras.layers.Lambda(lambda t: t * 2.0)(keras.layers.GlobalAveragePooling2D()(image))
    x = keras.layers.Concatenate()([x, features])
    model = keras.Model([image, features], keras.layers.Dense(7, activation="softmax")(x))
    model.save(str(bundle / "model.keras"))
    with pytest.raises(BundleError, match="Lambda|safe_mode|unsafe"):
        load_bundle(str(bundle))


def corrupt_bundle(tmp_path, edit):
    bundle = tmp_path / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    shutil.copytree(PRETRAINED, bundle)
    meta = json.loads((bundle / "bundle.json").read_text())
    text = edit(meta, bundle)
    if text is not None:
        (bundle / "bundle.json").write_text(text if isinstance(text, str) else json.dumps(text))
    return bundle


BAD_META = {
    "truncated": (lambda m, b: json.dumps(m)[:500], "corrupt bundle description"),
    "classes as a string": (lambda m, b: {**m, "classes": "Angry"}, "'classes'"),
    "one class": (lambda m, b: {**m, "classes": ["Angry"]}, "'classes'"),
    "missing normalization": (lambda m, b: {k: v for k, v in m.items() if k != "normalization"},
                              "'normalization'"),
    "zero std": (lambda m, b: {**m, "normalization": {**m["normalization"],
                                                      "std": [0.0] * len(m["normalization"]["std"])}},
                 "'normalization.std'"),
    "negative std": (lambda m, b: {**m, "normalization": {**m["normalization"],
                                                          "std": [-1.0] * len(m["normalization"]["std"])}},
                     "'normalization.std'"),
    "std of wrong type": (lambda m, b: {**m, "normalization": {**m["normalization"], "std": "1"}},
                          "'normalization.std'"),
    "feature size": (lambda m, b: {**m, "normalization": {"mean": [0.0] * 10, "std": [1.0] * 10}},
                     "'normalization.mean'"),
    "feature set of other size": (lambda m, b: {**m, "feature_set": "landmarks"}, "'normalization.mean'"),
    "unknown kind": (lambda m, b: {**m, "kind": "rnn"}, "'kind'"),
    "not an object": (lambda m, b: "[1, 2]", "not a fer-toolkit bundle"),
    "eight classes for a 7-class model": (lambda m, b: {**m, "classes": m["classes"] + ["Contempt"],
                                                        "class_ids": m["class_ids"] + [7]}, "classes"),
    "corrupt model.keras": (lambda m, b: (b / "model.keras").write_bytes(b"PK\x03\x04garbage") and None,
                            "model.keras"),
    "truncated model.keras": (lambda m, b: (b / "model.keras").write_bytes(
        (b / "model.keras").read_bytes()[:20000]) and None, "model.keras"),
}


@pytest.mark.parametrize("case", list(BAD_META))
def test_corrupt_bundle_is_one_line_naming_file_and_field(tmp_path, case):
    edit, expected = BAD_META[case]
    bundle = corrupt_bundle(tmp_path, edit)
    with pytest.raises(BundleError) as info:
        load_bundle(str(bundle))
    message = str(info.value)
    assert "\n" not in message and expected in message and str(bundle) in message, message


def test_corrupt_bundle_cli_is_one_line(tmp_path):
    bundle = corrupt_bundle(tmp_path, BAD_META["zero std"][0])
    line = one_line_error(run_script("predict", os.path.join(ROOT, "..", "shared", "samples", "obama.jpg"),
                                     "--model", bundle), "fer-predict")
    assert "normalization.std" in line and "bundle.json" in line


def test_bundle_features_that_do_not_match_the_data_are_one_line(synthetic_features, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synthetic_features, data)
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["feature_dimensions"]["hog_windows"] = 900
    (data / "manifest.json").write_text(json.dumps(manifest))
    line = one_line_error(run_script("evaluate", "--model", PRETRAINED, "--data", data, "--out", tmp_path / "e"),
                          "fer-evaluate")
    assert "1936" in line and str(data) in line
