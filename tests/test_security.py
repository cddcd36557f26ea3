"""Files from strangers: crafted model bundles and trials files run no code,
corrupt ones give one line naming the file and the field."""

import json
import os
import shutil

import numpy as np
import pytest

from fer_toolkit.models.bundle import FER2013_MODEL, SVM_NODES, BundleError, load_bundle, skops_nodes

from conftest import ROOT, free_port, run_cli, run_script, start_web, without_tensorflow


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
        res = run_cli("train", "--model", "svm", "--features", "landmarks", "--svm-kernel", kernel,
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
    line = one_line_error(run_cli("evaluate", "--model", bundle, "--data", synthetic_features,
                                  "--out", tmp_path / "eval"), "fer-evaluate")
    assert "runstring" in line
    one_line_error(run_cli("predict", os.path.join(ROOT, "..", "shared", "samples", "obama.jpg"),
                           "--model", bundle), "fer-predict")
    assert not marker.exists()


def test_keras_lambda_layer_is_refused(tmp_path):
    import keras

    bundle = tmp_path / "lambda"
    shutil.copytree(FER2013_MODEL, bundle)
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
    shutil.copytree(FER2013_MODEL, bundle)
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
    "feature set of other size": (lambda m, b: {**m, "feature_set": "landmarks",
                                                "feature_spec": {**m["feature_spec"], "feature_set": "landmarks"}},
                                  "'normalization.mean'"),
    "feature set contradicting the specification": (lambda m, b: {**m, "feature_set": "landmarks"},
                                                    "'feature_spec.feature_set'"),
    "bad feature specification": (lambda m, b: {**m, "feature_spec": {**m["feature_spec"], "hog_cell": 0}},
                                  "hog_cell must be in 2..48"),
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
    manifest["feature_dimensions"]["hog_windows"] = 900  # contradicts the manifest's own specification
    (data / "manifest.json").write_text(json.dumps(manifest))
    line = one_line_error(run_script("evaluate", "--model", FER2013_MODEL, "--data", data, "--out", tmp_path / "e"),
                          "fer-evaluate")
    assert "hog_windows 900" in line and "hog_windows 1800" in line and str(data) in line
    manifest["feature_dimensions"]["hog_windows"] = 1800
    manifest["feature_spec"]["landmark_box"] = [1, 1, 46, 46]  # data converted with other settings than the model's
    (data / "manifest.json").write_text(json.dumps(manifest))
    line = one_line_error(run_cli("evaluate", "--model", FER2013_MODEL, "--data", data, "--out", tmp_path / "e"),
                          "fer-evaluate")
    assert "landmark_box [0, 0, 47, 47] vs [1, 1, 46, 46]" in line and str(data) in line and FER2013_MODEL in line


# --------------------------------------------------------------------------
# Images: bounded memory, decoded right


SAMPLES = os.path.join(os.path.dirname(ROOT), "shared", "samples")


def png_header_only(width, height):
    """A tiny PNG whose header claims ``width`` x ``height`` grey pixels (a
    decompression bomb as far as any check before decoding can tell)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(10000, 6000), (30000, 30000)])  # over our limit; over Pillow's too
def test_images_over_the_pixel_limit_are_refused_before_decoding(tmp_path, width, height):
    from fer_toolkit.models.recognizer import ImageTooLarge, Recognizer, load_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(width, height))
    for source in (bomb, bomb.read_bytes()):
        with pytest.raises(ImageTooLarge):
            load_image(source)
    line = one_line_error(run_script("predict", bomb), "fer-predict")
    assert "pixels" in line
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(bomb, folder)
    shutil.copy(os.path.join(SAMPLES, "obama.jpg"), folder)
    res = run_cli("predict", folder, "--json")
    assert res.returncode == 0, res.stderr
    by_file = {os.path.basename(r["file"]): r for r in json.loads(res.stdout)}
    assert "pixels" in by_file["bomb.png"]["error"] and len(by_file["obama.jpg"]["faces"]) == 1
    assert Recognizer(max_pixels=0).max_pixels == 0  # the limit can be lifted for a trusted caller


def test_max_pixels_flag_sets_the_limit(tmp_path):
    line = one_line_error(run_script("predict", os.path.join(SAMPLES, "obama.jpg"), "--max-pixels", 1_000_000),
                          "fer-predict")
    assert "910x1137" in line and "--max-pixels" in line


def test_sixteen_bit_png_and_tiff_are_scaled_not_clipped(tmp_path):
    import cv2

    from fer_toolkit.models.recognizer import Recognizer, load_image

    recognizer = Recognizer()
    gray = cv2.cvtColor(cv2.imread(os.path.join(SAMPLES, "obama.jpg")), cv2.COLOR_BGR2GRAY)
    expected = recognizer.predict(gray)
    assert len(expected) == 1
    for name in ("face16.png", "face16.tif"):
        cv2.imwrite(str(tmp_path / name), gray.astype(np.uint16) * 257)
        np.testing.assert_array_equal(load_image(tmp_path / name), gray)
        faces = recognizer.predict(str(tmp_path / name))
        assert [f["box"] for f in faces] == [f["box"] for f in expected]
        np.testing.assert_allclose(list(faces[0]["probabilities"].values()),
                                   list(expected[0]["probabilities"].values()), atol=1e-6)
    np.testing.assert_array_equal(load_image(gray.astype(np.uint16) * 257), gray)  # arrays too


def test_large_jpeg_is_decoded_at_reduced_size_with_boxes_in_file_pixels(tmp_path):
    import cv2

    from fer_toolkit.models.recognizer import Recognizer

    photo = cv2.imread(os.path.join(SAMPLES, "two_people.jpg"))
    big = cv2.resize(photo, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 4504 x 2644
    cv2.imwrite(str(tmp_path / "big.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
    recognizer = Recognizer()
    decoded = recognizer.decode(str(tmp_path / "big.jpg"))
    assert decoded.scale == 2 and decoded.size == (big.shape[1], big.shape[0])
    assert max(decoded.array.shape) >= recognizer.max_side
    reduced = recognizer.predict(str(tmp_path / "big.jpg"))
    full = recognizer.predict(big)  # an array: decoded at full size
    assert len(reduced) == len(full) == 2
    for a, b in zip(reduced, full):
        assert np.abs(np.subtract(a["box"], b["box"])).max() <= 0.03 * b["box"][2], (a["box"], b["box"])
        assert a["label"] == b["label"]
        assert np.abs(np.subtract(a["landmarks"], b["landmarks"])).mean() <= 0.03 * b["box"][2]


def test_web_refuses_over_limit_images_with_413(tmp_path):
    import io

    from fer_toolkit.models.recognizer import Recognizer
    from fer_toolkit.models.webapp import create_app

    client = create_app(Recognizer(), max_upload_mb=2).test_client()
    r = client.post("/api/predict", data={"file": (io.BytesIO(png_header_only(10000, 6000)), "b.png")},
                    content_type="multipart/form-data")
    assert r.status_code == 413 and "megapixels" in r.get_json()["error"]
    r = client.post("/api/predict", data={"file": (io.BytesIO(png_header_only(30000, 30000)), "b.png")},
                    content_type="multipart/form-data")
    assert r.status_code == 413
    assert client.get("/health").get_json()["max_pixels"] == 50_000_000


# --------------------------------------------------------------------------
# The server under idle connections, and a port in use


def test_idle_connections_do_not_starve_real_requests():
    import socket
    import time
    import urllib.request

    port = free_port()
    proc = start_web(port)
    idle = []
    try:
        for _ in range(110):  # more than waitress' default limit of 100
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finishes its request
            idle.append(s)
        started = time.monotonic()
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read()
        assert b'"ok"' in body and time.monotonic() - started < 5
    finally:
        for s in idle:
            s.close()
        proc.terminate()
        proc.communicate(timeout=30)


def test_port_in_use_is_one_line_before_serving(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        # At once: the port is bound before TensorFlow and the model load.
        res = run_script("web", "--port", taken.getsockname()[1], env=without_tensorflow(tmp_path), timeout=120)
    line = one_line_error(res, "fer-web")
    assert "cannot listen" in line and "serving" not in res.stdout


# --------------------------------------------------------------------------
# Command lines: paths and hostile lines


def test_path_errors_are_one_line(tmp_path, synthetic_features):
    video = os.path.join(SAMPLES, "woman2.mp4")
    line = one_line_error(run_cli("video", "--video", video, "--no-display", "--csv", tmp_path,
                                  "--max-frames", 2), "fer-video")
    assert str(tmp_path) in line
    line = one_line_error(run_script("video", "--camera", -1, "--no-display"), "fer-video")
    assert "--camera -1" in line
    (tmp_path / "ro").mkdir()
    line = one_line_error(run_cli("evaluate", "--model", FER2013_MODEL, "--data", synthetic_features,
                                  "--out", tmp_path / "file.txt" / "sub"
                                  if (tmp_path / "file.txt").write_text("x") else None), "fer-evaluate")
    assert "file.txt" in line


def test_hostile_csv_lines_are_quoted_short(tmp_path):
    huge = "9" * 2_000_000
    csv = tmp_path / "f.csv"
    csv.write_text(f"emotion,pixels,Usage\n{huge}x,1 2 3,Training\n")
    res = run_script("convert", "--csv", csv, "--out", tmp_path / "out")
    line = one_line_error(res, "fer-convert")
    assert len(line) < 300 and "2,000,001 characters" in line, line[:300]
    csv.write_text("emotion,pixels,Usage\n0," + "1 " * 2303 + "x" * 1_000_000 + ",Training\n")
    line = one_line_error(run_script("convert", "--csv", csv, "--out", tmp_path / "out"), "fer-convert")
    assert len(line) < 300, line[:300]


def test_force_keeps_the_old_output_until_the_new_one_is_in_place(tmp_path, monkeypatch, synthetic_rows):
    from conftest import write_csv

    from fer_toolkit.features import conversion, util

    csv = write_csv(tmp_path / "f.csv", synthetic_rows)
    out = tmp_path / "out"
    conversion.convert(csv, str(out), progress=False, workers=1, landmarks=False, hog=False)
    real_rename = os.rename

    def failing_rename(src, dst):
        if ".tmp-" in str(src):
            raise OSError(28, "No space left on device", str(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(util.os, "rename", failing_rename)
    with pytest.raises(OSError):
        conversion.convert(csv, str(out), progress=False, workers=1, landmarks=False, hog=False, force=True)
    monkeypatch.undo()
    assert (out / "manifest.json").is_file()  # the old output is intact
    assert not list(tmp_path.glob("out.tmp-*")) and not list(tmp_path.glob("out.old-*"))
    # A killed conversion's temporary folder (its process is gone) is removed by the next run.
    stale = tmp_path / "out.tmp-999999999"
    stale.mkdir()
    (stale / "images.npy").write_bytes(b"half")
    conversion.convert(csv, str(out), progress=False, workers=1, landmarks=False, hog=False, force=True)
    assert not stale.exists() and (out / "manifest.json").is_file()
