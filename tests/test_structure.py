"""Structure: one import name, no import cycles, no heavy imports or side
effects at import time, and one feature specification from conversion to
prediction."""

import ast
import glob
import json
import os
import subprocess
import sys
import sysconfig
import tomllib

import numpy as np
import pytest

from fer_toolkit.features.spec import FeatureSpec, SpecError
from fer_toolkit.parameters import FEATURES_BEFORE_SPEC

from conftest import ROOT, SAMPLES

PACKAGES = ("features", "models", "scripts")
#: Which part of the package each layer may import (a module imports only from the layers below it).
ALLOWED = {"parameters": set(), "features": {"parameters", "features"},
           "models": {"parameters", "features", "models"}, "scripts": {"parameters", "features", "models", "scripts"}}


def package_modules():
    """``{module name: path}`` of every module of the package (``fer_toolkit`` is the repository root)."""
    modules = {"parameters": os.path.join(ROOT, "parameters.py")}
    for package in PACKAGES:
        for name in sorted(os.listdir(os.path.join(ROOT, package))):
            if name.endswith(".py"):
                stem = name[:-3]
                modules[package if stem == "__init__" else f"{package}.{stem}"] = os.path.join(ROOT, package, name)
    return modules


def imports_of(name, path, modules):
    """Package modules that ``name`` imports anywhere in its code (functions included)."""
    package = name if name in PACKAGES else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:  # "from . import x" and "from .pkg import module" name modules
                candidate = f"{target}.{alias.name}" if target else alias.name
                found.add(candidate if candidate in modules else target)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in (*PACKAGES, "parameters"):
            found.add(f"absolute:{node.module}")
        elif isinstance(node, ast.Import):
            found.update(f"absolute:{a.name}" for a in node.names if a.name.split(".")[0] in (*PACKAGES, "parameters"))
    return {m for m in found if m}


def test_imports_are_relative_layered_and_acyclic():
    modules = package_modules()
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    absolute = {name: sorted(m for m in deps if m.startswith("absolute:")) for name, deps in graph.items()}
    assert not any(absolute.values()), f"bare top-level imports (fail once installed): {absolute}"
    for name, deps in graph.items():
        layer = name.split(".")[0]
        wrong = sorted(d for d in deps if d.split(".")[0] not in ALLOWED[layer])
        assert not wrong, f"{name} imports from a layer above it: {wrong}"
    # Depth-first search for a cycle among the package's modules.
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in graph or dep == node.rpartition(".")[0]:
                continue
            if state.get(dep) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(dep):] + [dep]))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node)


def test_importing_the_package_loads_nothing_heavy():
    code = ("import sys, fer_toolkit, fer_toolkit.models, fer_toolkit.features, fer_toolkit.models.recognizer, "
            "fer_toolkit.models.train, fer_toolkit.models.evaluate, fer_toolkit.models.webapp; "
            "import fer_toolkit.scripts.train, fer_toolkit.scripts.predict, fer_toolkit.scripts.video; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'dlib', 'numba', 'matplotlib.pyplot', 'sklearn') "
            "if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]", f"loaded at import: {res.stdout}"


def test_specification_round_trips_and_refuses_bad_values():
    spec = FeatureSpec(hog_cell=12, window_size=16, window_step=8, window_orientations=6)
    assert FeatureSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    assert FeatureSpec.from_json(spec.settings(), "landmarks") == spec.with_feature_set("landmarks")
    assert spec.dimensions() == {"landmarks": 136, "hog": 16 * 8, "hog_windows": 25 * 4 * 6}
    assert spec.differences(FeatureSpec()) == ["hog_cell 12 vs 16", "window_size 16 vs 24", "window_step 8 vs 6",
                                               "window_orientations 6 vs 8"]
    assert FeatureSpec(crop_fit="reflect").differences(FeatureSpec(), crop=False) == []  # cut faces need not agree
    assert FeatureSpec.from_json(None) == FeatureSpec.from_parameters(FEATURES_BEFORE_SPEC)
    bad = [{"hog_cell": 0}, {"hog_cell": True}, {"window_cell": 30}, {"feature_set": "all"},
           {"landmark_box": [0, 0, 99, 47]}, {"crop_scale": float("nan")}, {"image_size": "48"}]
    for change in bad:
        with pytest.raises(SpecError):
            FeatureSpec.from_json({**FeatureSpec().to_json(), **change})
    with pytest.raises(SpecError, match="unknown setting"):
        FeatureSpec.from_json({**FeatureSpec().to_json(), "exec": "x"})


def test_old_bundles_read_as_the_old_specification(tmp_path):
    import shutil

    from fer_toolkit.models.bundle import bundle_spec, load_bundle, read_meta
    from fer_toolkit.models.bundle import FER2013_MODEL

    old = tmp_path / "old"
    shutil.copytree(FER2013_MODEL, old)
    meta = json.loads((old / "bundle.json").read_text())
    del meta["feature_spec"]  # as written before specifications were recorded
    (old / "bundle.json").write_text(json.dumps(meta))
    legacy = FeatureSpec.from_parameters(FEATURES_BEFORE_SPEC, feature_set=meta["feature_set"])
    assert bundle_spec(read_meta(str(old))) == legacy and legacy.crop_fit == "replicate"
    assert load_bundle(str(old)).spec == legacy
    # The shipped bundle states its specification: the old feature settings, with the crop geometry
    # measured again (benchmarks/face_margin.py) and crops shrunk to fit the image.
    assert bundle_spec(read_meta(FER2013_MODEL)).differences(legacy) == [
        "crop_scale 1.16 vs 1.28", "crop_shift_x 0.0 vs 0.04", "crop_shift_y -0.07 vs -0.053", "crop_fit shrink vs replicate"]


NON_DEFAULT_HOG = ["--hog-orientations", "9", "--hog-cell", "12", "--hog-window-size", "16",
                   "--hog-window-step", "8", "--hog-window-cell", "8"]


@pytest.fixture(scope="module")
def non_default_features(fer_csv, tmp_path_factory):
    """A real slice converted by fer-convert with non-default HOG settings."""
    out = tmp_path_factory.mktemp("spec") / "features"
    res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.convert", "--csv", fer_csv, "--out", str(out),
                          "--limit", "300", "--no-progress", *NON_DEFAULT_HOG], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    return str(out)


def test_feature_specification_travels_from_conversion_to_the_recognizer(non_default_features, real_features,
                                                                         tmp_path):
    """convert (non-default HOG) -> train 1 epoch -> evaluate -> Recognizer on
    FER-2013 faces: the recognizer computes the data's features and gives the
    evaluation path's probabilities; other data is refused in one line."""
    import cv2

    from fer_toolkit import Recognizer, evaluate, train
    from fer_toolkit.features.io import load_arrays, load_manifest
    from fer_toolkit.models.bundle import BundleError, load_bundle
    from fer_toolkit.models.evaluate import predict_split

    manifest = load_manifest(non_default_features)
    assert manifest["feature_spec"]["hog_cell"] == 12 and manifest["feature_dimensions"]["hog_windows"] == 25 * 4 * 8
    run = str(tmp_path / "run")
    train({"data": non_default_features, "out": run, "model": "A", "features": "landmarks_hog_windows", "epochs": 1,
           "batch_size": 64, "filters_a": [8, 16], "image_units": 16, "feature_units": [16], "fusion_units": 16},
          log=lambda *_: None, verbose=0)
    bundle = load_bundle(run)
    assert bundle.spec.window_size == 16 and bundle.spec.hog_orientations == 9
    assert json.load(open(os.path.join(run, "bundle.json")))["feature_spec"]["window_step"] == 8
    result = evaluate([run], non_default_features, "PrivateTest", out_dir=str(tmp_path / "eval"))
    probs, labels = predict_split(bundle, non_default_features, "PrivateTest")
    assert result["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == labels))

    arrays = load_arrays(non_default_features, "PrivateTest", ("landmarks", "hog_windows"), limit=30)
    recognizer = Recognizer(run)
    got, computed = recognizer.predict_crops(arrays["images"])
    np.testing.assert_array_equal(computed["hog_windows"], arrays["hog_windows"])
    np.testing.assert_allclose(got, probs[:30], atol=1e-6)
    # Through predict() on a photo: a face box whose crop is the 48x48 face itself.
    spec = recognizer.spec
    side = 48 / spec.crop_scale
    box = (-spec.crop_shift_x * side + (48 - side) / 2, -spec.crop_shift_y * side + (48 - side) / 2, side, side)
    x0, y0, crop_side = spec.crop_square(box)
    assert abs(x0) < 1e-9 and abs(y0) < 1e-9 and abs(crop_side - 48) < 1e-9
    photo = cv2.resize(arrays["images"][0], (480, 480), interpolation=cv2.INTER_NEAREST)
    big_box = [round(v * 10) for v in box]
    crop = spec.crop(photo, [big_box])
    assert np.abs(crop[0].astype(int) - arrays["images"][0]).mean() < 3.0  # the face, cut back out
    via_photo = recognizer.predict(photo, boxes=[big_box])[0]
    expected, _ = recognizer.predict_crops(crop)
    np.testing.assert_allclose([via_photo["probabilities"][c] for c in bundle.classes], expected[0], atol=1e-6)

    with pytest.raises(BundleError) as refused:  # data converted with the default settings
        evaluate([run], real_features, "PrivateTest", out_dir=str(tmp_path / "eval2"))
    message = str(refused.value)
    assert "\n" not in message and run in message and real_features in message
    assert "hog_cell 12 vs 16" in message and "window_size 16 vs 24" in message


def _site_packages(venv):
    return sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})


@pytest.mark.slow
def test_installed_wheel_exposes_only_fer_toolkit(tmp_path):
    """In a fresh environment with the wheel installed, the generic names are
    not importable, and the commands and the API work next to a user's own
    ``models.py`` and ``features/``."""
    dist = tmp_path / "dist"
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), ROOT],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    wheel = next(dist.glob("fer_toolkit-*.whl"))
    import zipfile

    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"fer_toolkit"}
    assert "fer_toolkit/models/detectors/face_detection_full_range.tflite" in zipfile.ZipFile(wheel).namelist()
    # The shipped models travel in the wheel, by name, and the installed package stays under 50 MB.
    infos = zipfile.ZipFile(wheel).infolist()
    assert {"fer_toolkit/models/pretrained/fer2013/model.keras",
            "fer_toolkit/models/pretrained/fer2013/bundle.json"} <= {i.filename for i in infos}
    assert sum(i.file_size for i in infos) < 50 * 2**20
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # The dependencies come from this environment's site-packages, added as a plain path: its .pth files
    # (the editable install of this checkout among them) are not run, so only the wheel provides fer_toolkit.
    with open(os.path.join(_site_packages(venv), "deps.pth"), "w") as f:
        f.write(sysconfig.get_path("purelib") + "\n")
    python = str(venv / "bin" / "python")
    res = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
                          "--quiet", str(wheel)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]

    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("models", "features", "scripts", "parameters"):
        res = subprocess.run([python, "-c", f"import {name}"], capture_output=True, text=True, cwd=empty, timeout=60)
        assert res.returncode != 0 and "ModuleNotFoundError" in res.stderr, name

    user = tmp_path / "user"
    (user / "features").mkdir(parents=True)
    (user / "models.py").write_text("raise SystemExit('the user models.py was imported')\n")
    (user / "features" / "__init__.py").write_text("raise SystemExit('the user features/ was imported')\n")
    (user / "parameters.py").write_text("raise SystemExit('the user parameters.py was imported')\n")
    commands = ("convert", "train", "evaluate", "optimize", "predict", "video", "web")
    helps = {c: subprocess.Popen([str(venv / "bin" / f"fer-{c}"), "--help"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=user) for c in commands}
    for command, proc in helps.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and f"fer-{command}" in out, (command, err[-1000:])
    code = ("import sys, fer_toolkit; assert 'site-packages' in fer_toolkit.__file__, fer_toolkit.__file__; "
            "from fer_toolkit import Recognizer, evaluate, train; "
            f"faces = Recognizer().predict({os.path.join(SAMPLES, 'obama.jpg')!r}); print(faces[0]['label'])")
    res = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=user, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() in ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral", "Contempt")
    # The installed command (the API above took the default search), with BlazeFace, whose model file
    # ships in the wheel.
    res = subprocess.run([str(venv / "bin" / "fer-predict"), os.path.join(SAMPLES, "obama.jpg"), "--json",
                          "--proposer", "blazeface"], capture_output=True, text=True, cwd=user, timeout=300)
    assert res.returncode == 0 and json.loads(res.stdout)[0]["faces"], res.stderr[-1000:]
    cache = os.path.join(_site_packages(venv), "fer_toolkit", "features", "__pycache__")
    assert not any(n.endswith((".nbi", ".nbc")) for n in (os.listdir(cache) if os.path.isdir(cache) else [])), \
        "Numba's cache went into site-packages"


def test_training_settings_are_checked_before_any_data_loads(tmp_path):
    from fer_toolkit.models.config import ConfigError, TrainingConfig

    assert TrainingConfig(model="b", filters_b=[8, 16]).model == "B"
    for bad, message in ((dict(imbalance="weights"), "unknown imbalance"), (dict(learning_rate=-1.0), "learning_rate"),
                         (dict(batch_size="64"), "batch_size must be an int"), (dict(contrast_range=(1.2,)), "contrast"),
                         (dict(model="svm", features="none"), "SVM needs features")):
        with pytest.raises(ConfigError, match=message):
            TrainingConfig(**bad)
    params = tmp_path / "best.json"
    params.write_text(json.dumps({"params": {"imbalance": "weights"}}))
    res = subprocess.run([sys.executable, "-m", "fer_toolkit.scripts.train", "--params", str(params),
                          "--data", str(tmp_path / "no-data")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert "unknown imbalance 'weights'" in res.stderr and "no converted data" not in res.stderr


def test_no_packaged_data_file_is_git_ignored():
    """Every file the wheel ships from ``models/`` is committed: a git-ignored one
    (say a ``*.npz`` of weights) works in the checkout that made it and is missing
    from every clean clone, CI's included."""
    if not os.path.isdir(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout (an installed copy has no ignore rules to check)")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        patterns = tomllib.load(f)["tool"]["setuptools"]["package-data"]["fer_toolkit.models"]
    shipped = [os.path.relpath(path, ROOT) for pattern in patterns
               for path in glob.glob(os.path.join(ROOT, "models", pattern)) if os.path.isfile(path)]
    assert shipped, "no packaged data found under models/"
    result = subprocess.run(["git", "check-ignore", "--no-index", *shipped], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.stdout.split() == [], f"git ignores packaged files: {result.stdout.split()}"
