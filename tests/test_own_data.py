"""Your own data: labelled image folders, FERPlus vote files, fine-tuning and
class sets other than FER-2013's seven, on real FER-2013 faces."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLES, run_cli

from fer_toolkit.features.conversion import ConversionError, convert
from fer_toolkit.features.folder_conversion import convert_images, validation_split
from fer_toolkit.features.folders import FolderError, class_set, scan_tree
from fer_toolkit.parameters import EMOTIONS

BIN = os.path.dirname(sys.executable)


def write_tree(root, images, labels, names, per_class, scale=1, start=0):
    """Write the first ``per_class`` faces of each class as PNGs into ``root/<names[label]>/``;
    returns the row indices written, in file order."""
    rows = []
    for label, name in enumerate(names):
        if name is None:
            continue
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in np.flatnonzero(labels == label)[start : start + per_class]:
            face = Image.fromarray(images[i])
            if scale != 1:
                face = face.resize((48 * scale, 48 * scale), Image.BICUBIC)
            face.save(os.path.join(root, name, f"{i:05d}.png"))
            rows.append(int(i))
    return rows


def load(out, split, name):
    return np.load(os.path.join(out, split, f"{name}.npy"))


@pytest.fixture(scope="module")
def real_arrays(real_features):
    """Images and labels of the real PrivateTest slice."""
    return load(real_features, "PrivateTest", "images"), load(real_features, "PrivateTest", "labels")


# ---------------------------------------------------------------------------
# Folder trees


def test_image_tree_gives_the_csv_paths_arrays(tmp_path, real_features, real_arrays):
    images, labels = real_arrays
    names = ["Anger", "DISGUST", "fearful", "happiness", "sad", "Surprised", "neutral"]  # common spellings
    tree = tmp_path / "tree"
    train_rows = write_tree(str(tree / "Train"), images, labels, names, 12)
    test_rows = write_tree(str(tree / "test"), images, labels, names, 4, start=12)
    (tree / "Train" / "notes.txt").write_text("not an image")
    manifest = convert_images(str(tree), str(tmp_path / "out"), progress=False, workers=2)
    assert manifest["classes"] == list(EMOTIONS) and manifest["class_ids"] == list(range(7))
    out = str(tmp_path / "out")
    sources = open(os.path.join(out, "PrivateTest", "sources.txt")).read().split()
    rows = [int(os.path.basename(s)[:5]) for s in sources]  # the files are named by their row
    assert sorted(rows) == sorted(test_rows)
    for name in ("images", "landmarks", "hog", "hog_windows"):
        np.testing.assert_array_equal(load(out, "PrivateTest", name), load(real_features, "PrivateTest", name)[rows])
    np.testing.assert_array_equal(load(out, "PrivateTest", "labels"), labels[rows])
    # Without a validation folder: a stratified, seeded tenth of each class (of those with two or more faces).
    train, val = load(out, "Training", "labels"), load(out, "PublicTest", "labels")
    assert len(train) + len(val) == len(train_rows) == 84
    assert np.bincount(val, minlength=7).tolist() == [1] * 7
    assert manifest["parameters"]["validation_fraction"] == 0.1
    assert manifest["skipped"]["reasons"] == {"not inside a class folder": 1}
    sources = open(os.path.join(out, "PublicTest", "sources.txt")).read().split()
    assert len(sources) == 7 and all(s.startswith("Train/") for s in sources)
    again = convert_images(str(tree), str(tmp_path / "again"), progress=False, workers=1)
    np.testing.assert_array_equal(load(str(tmp_path / "again"), "PublicTest", "images"), load(out, "PublicTest", "images"))
    assert again["source_sha256"] == manifest["source_sha256"]


def test_photos_are_detected_and_files_without_faces_are_listed(tmp_path, real_arrays):
    images, labels = real_arrays
    tree = tmp_path / "tree"
    write_tree(str(tree), images, labels, ["angry", None, None, "happy", None, None, None], 2, scale=4)
    Image.open(os.path.join(SAMPLES, "no-faces.jpg")).convert("L").resize((240, 180)).save(tree / "happy" / "wall.png")
    (tree / "angry" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tree / "happy" / "zcopy.png").write_bytes((tree / "angry" / sorted(os.listdir(tree / "angry"))[0]).read_bytes())
    os.symlink(str(tree), tree / "angry" / "loop")
    os.symlink(str(tree / "angry" / "self"), tree / "angry" / "self")
    manifest = convert_images(str(tree), str(tmp_path / "out"), progress=False, workers=1, validation_fraction=0)
    assert manifest["classes"] == ["Angry", "Happy"] and manifest["class_ids"] == [0, 3]
    assert manifest["counts"]["Training"]["total"] == 4
    reasons = {f["path"]: f["reason"] for f in manifest["skipped"]["files"]}
    assert reasons["happy/wall.png"] == "no face found"
    assert reasons["angry/broken.jpg"] == "not an image"
    assert reasons["happy/zcopy.png"].startswith("duplicate (of angry/")
    assert reasons["angry/loop"] == "symbolic link to a folder (not followed)"
    assert reasons["angry/self"].startswith("unreadable")
    crops = load(str(tmp_path / "out"), "Training", "images")
    assert crops.shape == (4, 48, 48) and crops.std() > 20
    with pytest.raises(ConversionError, match="already exists"):
        convert_images(str(tree), str(tmp_path / "out"), progress=False, workers=1)


@pytest.mark.parametrize("case, message", [
    ("missing", "no such folder"),
    ("file", "a file, not a folder"),
    ("empty", "no class folders"),
    ("one class", "one class only"),
    ("mixed", "split folders .* mixed with other folders"),
    ("differ", "class folders differ between splits: train has fear, test has no other"),
    ("no faces", "no face in any of its 2 files"),
])
def test_bad_trees_get_one_line_and_leave_nothing(tmp_path, real_arrays, case, message):
    images, labels = real_arrays
    tree = tmp_path / "tree"
    tree.mkdir()
    if case == "file":
        tree.rmdir()
        tree.write_text("x")
    elif case == "missing":
        tree.rmdir()
    elif case == "one class":
        write_tree(str(tree), images, labels, ["angry"], 2)
    elif case == "mixed":
        write_tree(str(tree / "train"), images, labels, ["angry", "disgust"], 2)
        write_tree(str(tree), images, labels, ["angry"], 2)
    elif case == "differ":
        write_tree(str(tree / "train"), images, labels, ["angry", None, "fear"], 2)
        write_tree(str(tree / "test"), images, labels, ["ANGER"], 2)
    elif case == "no faces":
        for name in ("a", "b"):
            (tree / name).mkdir()
            (tree / name / "x.png").write_bytes(b"not a png")
    result = subprocess.run([os.path.join(BIN, "fer-convert"), "--images", str(tree), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fer-convert: error: ")
    import re

    assert re.search(message, lines[0]), lines[0]
    assert not [n for n in os.listdir(tmp_path) if n != "tree"]  # nothing half-written


def test_class_sets_and_splits_from_folder_names(tmp_path):
    assert class_set(["Happy", "anger", "NEUTRAL"]) == (["Angry", "Happy", "Neutral"], [0, 3, 6],
                                                       {"Happy": 1, "anger": 0, "NEUTRAL": 2})
    assert class_set(["contempt", "happiness"])[:2] == (["Happy", "Contempt"], [3, 7])
    assert class_set(["smiling", "Frowning", "blank"])[:2] == (["blank", "frowning", "smiling"], [0, 1, 2])
    for split in ("Training", "VALID", "PrivateTest"):
        (tmp_path / split / "a").mkdir(parents=True)
        (tmp_path / split / "a" / "x.png").write_bytes(b"")
    files, _ = scan_tree(str(tmp_path))
    assert sorted(files) == ["PrivateTest", "PublicTest", "Training"]
    (tmp_path / "val").mkdir()
    with pytest.raises(FolderError, match="two folders for the PublicTest split"):
        scan_tree(str(tmp_path))
    chosen = validation_split(np.repeat(np.arange(3), [10, 1, 30]), 3, 0.1, 7)
    assert chosen.sum() == 4 and not chosen[10]
    np.testing.assert_array_equal(chosen, validation_split(np.repeat(np.arange(3), [10, 1, 30]), 3, 0.1, 7))


# ---------------------------------------------------------------------------
# FERPlus


def ferplus_file(path, usages, votes, names=None):
    """A vote file in exactly Microsoft's format."""
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    names = names or [f"fer{i:07d}.png" for i in range(len(usages))]
    lines = [header] + [f"{u},{n}," + ",".join(str(v) for v in row) for u, n, row in zip(usages, names, votes)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def real_csv_slice(fer_csv, tmp_path_factory):
    """100 data rows of each split of the real CSV (in file order), and their splits."""
    from fer_toolkit.features.conversion import read_source

    _, text = read_source(fer_csv)
    lines = text.split(b"\n")
    picked = {}
    for line in lines[1:]:
        usage = line.rsplit(b",", 1)[-1].strip().decode()
        if line.strip() and len(picked.setdefault(usage, [])) < 100:
            picked[usage].append(line)
    rows = [line for usage in ("Training", "PublicTest", "PrivateTest") for line in picked[usage]]
    path = tmp_path_factory.mktemp("ferplus") / "slice.csv"
    path.write_bytes(b"\n".join([lines[0], *rows]) + b"\n")
    usages = [line.rsplit(b",", 1)[1].strip().decode() for line in rows]
    return str(path), usages


def authors_label(votes, named=True):
    """FERPlus' own reader, row by row (Barsoum et al. 2016, ``_process_data`` in majority
    mode): the class id of a face's label, or None, and its distribution over the 8 emotions."""
    kept = [v if v > 1 else 0 for v in votes]  # single votes are outliers
    top = max(kept)
    if not named or top <= 0.5 * sum(kept) or kept.index(top) >= 8:
        return None, None
    to_class = [6, 3, 5, 4, 0, 1, 2, 7]
    dist = np.zeros(8)
    for column, v in enumerate(kept[:8]):
        dist[to_class[column]] = v
    return to_class[kept.index(top)], dist / dist.sum()


def test_ferplus_authors_protocol(tmp_path, real_csv_slice):
    csv, usages = real_csv_slice
    rng = np.random.default_rng(0)
    votes = rng.multinomial(10, [0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03], size=len(usages))
    votes[0] = [0, 0, 0, 0, 0, 0, 0, 0, 6, 4]  # majority unknown
    votes[1] = [0, 0, 0, 0, 0, 0, 0, 0, 2, 8]  # not a face
    votes[2] = [5, 5, 0, 0, 0, 0, 0, 0, 0, 0]  # half is no majority
    votes[3] = [0, 0, 0, 0, 0, 0, 0, 9, 1, 0]  # contempt
    votes[5] = [4, 1, 1, 1, 1, 1, 1, 0, 0, 0]  # neutral once the single votes are dropped
    votes[6] = [4, 3, 3, 0, 0, 0, 0, 0, 0, 0]  # no majority
    names = [f"fer{i:07d}.png" for i in range(len(usages))]
    names[4] = ""
    votes[4] = [8, 2, 0, 0, 0, 0, 0, 0, 0, 0]  # a clear majority, but no image name
    names[7] = names[8]  # FERPlus reused a few names: rows align by position, not by name
    vote_file = ferplus_file(tmp_path / "fer2013new.csv", usages, votes, names)
    expected = [authors_label(list(v), bool(n)) for v, n in zip(votes, names)]
    assert [e[0] for e in expected[:7]] == [None, None, None, 7, None, 6, None]
    manifest = convert(csv, str(tmp_path / "major"), ferplus=vote_file, landmarks=False, hog=False, progress=False,
                       workers=1)
    assert manifest["classes"] == list(EMOTIONS) + ["Contempt"]
    dropped = manifest["labels"]["dropped"]
    assert dropped["majority unknown"] == 1 and dropped["majority not a face"] == 1 and dropped["no image name"] == 1
    assert sum(dropped.values()) == sum(e[0] is None for e in expected)
    order = sorted(range(len(usages)), key=lambda i: ("Training", "PublicTest", "PrivateTest").index(usages[i]))
    kept = [i for i in order if expected[i][0] is not None]
    got = np.concatenate([load(str(tmp_path / "major"), s, "labels") for s in ("Training", "PublicTest", "PrivateTest")])
    np.testing.assert_array_equal(got, [expected[i][0] for i in kept])

    convert(csv, str(tmp_path / "soft"), ferplus=vote_file, ferplus_labels="distribution", landmarks=False,
            hog=False, progress=False, workers=1, expressions=(3, 6, 7))
    dist = load(str(tmp_path / "soft"), "Training", "label_distribution")
    labels = load(str(tmp_path / "soft"), "Training", "labels")
    rows = [i for i in kept if usages[i] == "Training" and expected[i][0] in (3, 6, 7)]
    want = np.array([expected[i][1][[3, 6, 7]] for i in rows])
    np.testing.assert_allclose(dist, want / want.sum(1, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(labels, np.argmax(dist, axis=1))


def test_genuine_ferplus_vote_file(fer_csv, ferplus_csv, tmp_path):
    """Microsoft's published fer2013new.csv with the original-order FER-2013 CSV: the counts of
    the authors' protocol, and every face's label and distribution as their reader gives them."""
    from fer_toolkit.features.conversion import read_ferplus

    votes = read_ferplus(ferplus_csv)
    assert len(votes["usages"]) == 35887
    reasons, counts = np.unique(votes["dropped"], return_counts=True)
    assert dict(zip(reasons.tolist(), counts.tolist())) == {
        "": 31412, "no majority": 4200, "no image name": 173, "majority unknown": 99, "majority not a face": 3}
    manifest = convert(fer_csv, str(tmp_path / "fp"), ferplus=ferplus_csv, ferplus_labels="distribution",
                       landmarks=False, hog=False, progress=False)
    assert {s: c["total"] for s, c in manifest["counts"].items()} == {
        "Training": 25060, "PublicTest": 3199, "PrivateTest": 3153}
    assert manifest["counts"]["PrivateTest"]["Contempt"] == 16  # 3,137 test faces in FER-2013's seven classes
    import csv as csv_module

    with open(ferplus_csv, newline="") as f:
        rows = list(csv_module.reader(f))[1:]
    expected = [authors_label([int(v) for v in row[2:]], bool(row[1])) for row in rows]
    for split in ("Training", "PublicTest", "PrivateTest"):
        want = [e for e, row in zip(expected, rows) if row[0] == split and e[0] is not None]
        np.testing.assert_array_equal(load(str(tmp_path / "fp"), split, "labels"), [w[0] for w in want])
        np.testing.assert_allclose(load(str(tmp_path / "fp"), split, "label_distribution"), [w[1] for w in want],
                                   rtol=1e-6)


def test_ferplus_file_that_does_not_match_is_one_line(tmp_path, real_csv_slice):
    csv, usages = real_csv_slice
    votes = np.tile([5, 1, 1, 1, 1, 1, 0, 0, 0, 0], (len(usages), 1)).astype(object)
    cli = [os.path.join(BIN, "fer-convert"), "--csv", csv, "--out", str(tmp_path / "out"), "--no-landmarks", "--no-hog"]
    huge = votes.copy()
    huge[5, 0] = 99999999999999999999
    for vote_usages, vote_counts, message in ((usages[:-1], votes, "has 299 rows and .* 300"),
                                              (usages[::-1], votes, "not in this CSV's row order"),
                                              (usages, huge, "line 7: a vote count outside 0..1000")):
        vote_file = ferplus_file(tmp_path / "votes.csv", vote_usages, vote_counts)
        result = subprocess.run(cli + ["--ferplus", vote_file], capture_output=True, text=True)
        assert result.returncode == 1
        import re

        assert len(result.stderr.strip().splitlines()) == 1 and re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "out").exists()


def test_fer2013_model_on_ferplus_labels_by_class_name(fer_csv, ferplus_csv, tmp_path):
    """The cross-label evaluation: the 7-class model on FERPlus' faces of its classes (contempt left
    out), by fer-evaluate --match-classes; without the flag the class lists' difference is one line."""
    from fer_toolkit.models.bundle import FER2013_MODEL, load_bundle
    from fer_toolkit.models.evaluate import evaluate

    data = str(tmp_path / "ferplus")
    convert(fer_csv, data, ferplus=ferplus_csv, limit=200, progress=False)
    result = run_cli("evaluate", "--model", "fer2013", "--data", data, "--split", "PrivateTest", "--match-classes",
                     "--json", "--out", tmp_path / "e")
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    labels = load(data, "PrivateTest", "labels")
    assert got["left_out"] == int((labels == 7).sum()) and got["n"] == int((labels != 7).sum())
    assert list(got["per_class"]) == list(EMOTIONS)  # the model's classes: FERPlus' ids 0-6 are FER-2013's
    bundle = load_bundle(FER2013_MODEL)
    keep = labels != 7
    arrays = {n: load(data, "PrivateTest", n)[keep] for n in ("images", "landmarks", "hog_windows")}
    expected = bundle.predict_proba(arrays["images"], bundle.spec.stack(arrays)).argmax(1) == labels[keep]
    assert got["accuracy"] == pytest.approx(expected.mean(), abs=1e-9)
    with pytest.raises(Exception, match="--match-classes evaluates it"):
        evaluate(["fer2013"], data, "PrivateTest", out_dir=str(tmp_path / "e2"))
    # The shipped FERPlus model on the same faces, by its own 8 classes, and on FER-2013's labels.
    ferplus = evaluate(["ferplus"], data, "PrivateTest", out_dir=str(tmp_path / "e3"))
    assert ferplus["n"] == len(labels) and list(ferplus["per_class"]) == list(EMOTIONS) + ["Contempt"]
    assert ferplus["accuracy"] > 0.75
    fer2013_labels = str(tmp_path / "fer2013")
    convert(fer_csv, fer2013_labels, limit=200, progress=False, landmarks=True, hog=True)
    crossed = evaluate(["ferplus"], fer2013_labels, "PrivateTest", out_dir=str(tmp_path / "e4"), match_classes=True)
    assert crossed["n"] == 200 and crossed["left_out"] == 0 and 0.45 < crossed["accuracy"] < ferplus["accuracy"]


# ---------------------------------------------------------------------------
# Fine-tuning and other class sets


@pytest.fixture(scope="module")
def three_classes(real_arrays, tmp_path_factory):
    """A converted folder tree of three classes that FER-2013 does not name."""
    images, labels = real_arrays
    tmp = tmp_path_factory.mktemp("three")
    names = [None, None, None, "smiling", "frowning", None, "blank"]
    write_tree(str(tmp / "tree" / "train"), images, labels, names, 30)
    write_tree(str(tmp / "tree" / "test"), images, labels, names, 10, start=30)
    convert_images(str(tmp / "tree"), str(tmp / "data"), progress=False, workers=2)
    return str(tmp / "data")


def test_fine_tuning_a_new_class_set_from_the_shipped_model(tmp_path, three_classes):
    from fer_toolkit.models.bundle import FER2013_MODEL, load_bundle

    out = tmp_path / "run"
    result = subprocess.run([os.path.join(BIN, "fer-train"), "--data", three_classes, "--init", "shipped",
                             "--freeze-epochs", "1", "--epochs", "1", "--out", str(out), "--quiet"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "classification layer replaced for blank, frowning, smiling" in result.stdout
    meta = json.load(open(out / "bundle.json"))
    assert meta["classes"] == ["blank", "frowning", "smiling"]
    assert meta["init"]["from"] == "shipped" and meta["init"]["head"] == "replaced"
    assert meta["init"]["freeze_epochs"] == 1 and meta["model"] == "B"
    assert meta["train_args"]["filters_b"] == [64, 128, 256, 256] and meta["train_args"]["learning_rate"] == 3e-4
    from fer_toolkit.models.ensemble import first_member

    shipped, tuned = first_member(load_bundle(FER2013_MODEL)), load_bundle(str(out))  # fer2013's first network
    assert meta["normalization"] == shipped.meta["normalization"]
    # The epoch trained the new head only: every other layer is the shipped model's.
    for layer in shipped.model.layers:
        if layer.weights and layer.name != "probabilities":
            for a, b in zip(layer.get_weights(), tuned.model.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)
    assert tuned.model.get_layer("probabilities").get_weights()[0].shape == (256, 3)

    # Resumed past the frozen epoch: every layer trains, and the bundle keeps its start and standardisation.
    resumed = run_cli("train", "--data", three_classes, "--out", out, "--resume", "--epochs", 2, "--quiet")
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert "epoch 2: training every layer" in resumed.stdout
    state = json.load(open(out / "state.json"))
    assert state["epoch"] == 2 and state["config"]["init"] == "shipped"
    meta = json.load(open(out / "bundle.json"))
    assert meta["init"]["from"] == "shipped" and meta["normalization"] == shipped.meta["normalization"]

    # The new class set everywhere: evaluation, prediction, the web page's classes.
    evaluated = run_cli("evaluate", "--model", out, "--data", three_classes)
    assert evaluated.returncode == 0 and "smiling" in evaluated.stdout, evaluated.stderr
    predicted = run_cli("predict", "--model", out, "--json", os.path.join(SAMPLES, "obama.jpg"))
    faces = json.loads(predicted.stdout)[0]["faces"]
    assert set(faces[0]["probabilities"]) == {"blank", "frowning", "smiling"}
    video = run_cli("video", "--model", out, "--video", os.path.join(SAMPLES, "woman2.mp4"), "--no-display",
                    "--max-frames", "3", "--csv", tmp_path / "frames.csv")
    assert video.returncode == 0, video.stderr
    rows = open(tmp_path / "frames.csv").read().splitlines()
    assert len(rows) > 1 and {"blank", "frowning", "smiling"} <= set(rows[0].split(","))

    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.models.webapp import create_app

    client = create_app(Recognizer(str(out)), max_upload_mb=2).test_client()
    assert client.get("/health").get_json()["classes"] == ["blank", "frowning", "smiling"]
    with open(os.path.join(SAMPLES, "obama.jpg"), "rb") as f:
        import io

        r = client.post("/api/predict", data={"file": (io.BytesIO(f.read()), "x.jpg")},
                        content_type="multipart/form-data")
    assert r.get_json()["faces"][0]["label"] in ("blank", "frowning", "smiling")


def test_fine_tuning_refuses_a_mismatched_start(tmp_path, three_classes):
    cli = [os.path.join(BIN, "fer-train"), "--data", three_classes, "--out", str(tmp_path / "run")]
    for flags, message in ((["--init", str(tmp_path)], "not a model bundle"),
                           (["--init", "shipped", "--features", "landmarks"], "uses the feature set"),
                           (["--freeze-epochs", "2"], "freeze_epochs needs init")):
        result = subprocess.run(cli + flags, capture_output=True, text=True)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_svm_and_soft_labels_train_on_other_class_sets(tmp_path, three_classes):
    from fer_toolkit.models.train import load_training_data, make_epoch_data, train_svm
    from fer_toolkit.models.config import TrainingConfig

    final = train_svm({"model": "svm", "features": "landmarks", "svm_kernel": "linear", "data": three_classes,
                       "out": str(tmp_path / "svm")}, log=lambda *a: None)
    assert 0 <= final["val_accuracy"] <= 1
    assert json.load(open(tmp_path / "svm" / "bundle.json"))["classes"] == ["blank", "frowning", "smiling"]
    search = subprocess.run([os.path.join(BIN, "fer-optimize"), "--data", three_classes, "--model", "svm",
                             "--features", "landmarks", "--max-evals", "2", "--out", str(tmp_path / "search")],
                            capture_output=True, text=True)
    assert search.returncode == 0, search.stderr
    assert os.path.isfile(tmp_path / "search" / "best.json")

    # Soft labels: the epoch's targets are the stored distributions, not one-hot labels.
    soft = tmp_path / "soft"
    import shutil

    shutil.copytree(three_classes, soft)
    manifest = json.load(open(soft / "manifest.json"))
    manifest["soft_labels"] = True
    (soft / "manifest.json").write_text(json.dumps(manifest))
    rng = np.random.default_rng(1)
    for split in ("Training", "PublicTest", "PrivateTest"):
        n = len(load(str(soft), split, "labels"))
        dist = rng.dirichlet(np.ones(3), size=n).astype(np.float32)
        np.save(soft / split / "label_distribution.npy", dist)
    config = TrainingConfig(data=str(soft), features="landmarks", augment=False, batch_size=8)
    train, _, standardizer, _ = load_training_data(config)
    targets = np.concatenate([t for _, t in make_epoch_data(train, config, standardizer, 3, 0).as_numpy_iterator()])
    assert sorted(map(tuple, np.round(targets, 5))) == sorted(map(tuple, np.round(train["targets"], 5)))
    np.save(soft / "Training" / "label_distribution.npy", np.ones((2, 3), np.float32))
    from fer_toolkit.models.train import TrainingError

    with pytest.raises(TrainingError, match="class probabilities that sum to 1"):
        load_training_data(config)


def test_files_over_the_size_limit_are_skipped_unread(tmp_path, real_arrays, monkeypatch):
    from dataclasses import replace

    from fer_toolkit.features import folder_conversion

    images, labels = real_arrays
    write_tree(str(tmp_path / "tree"), images, labels, ["angry", "disgust"], 3)
    big = tmp_path / "tree" / "angry" / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8)).save(big)
    monkeypatch.setattr(folder_conversion, "DATASET", replace(folder_conversion.DATASET, max_image_bytes=50_000))
    manifest = convert_images(str(tmp_path / "tree"), str(tmp_path / "out"), progress=False, workers=1,
                              validation_fraction=0)
    assert manifest["counts"]["Training"]["total"] == 6
    assert {f["path"]: f["reason"] for f in manifest["skipped"]["files"]} == {"angry/big.png": "too large (over 0.05 MB)"}
