"""SVM baseline on the same standardised features as the CNNs' feature branch.

A linear SVM (``LinearSVC``), or an RBF SVM approximated by a Nystroem kernel
map followed by a linear SVM: an exact RBF ``SVC`` on 28,709 rows of 1,936
features takes far longer (see BENCHMARKS.md). The fitted pipeline is saved
with ``skops`` (no pickle), so loading a bundle cannot run code.
"""

import os
import time

import numpy as np

from ..parameters import FEATURE_SETS

from .bundle import make_meta, save_bundle
from .train import TrainingError, finish_run, load_training_data


def build_svm(kernel="rbf", c=0.1, gamma=0.0, n_components=3000, max_iter=2000, n_features=1, seed=0):
    """A scikit-learn SVM pipeline.

    Parameters
    ----------
    kernel : {"linear", "rbf"}
    c : float
        Regularisation parameter C.
    gamma : float
        RBF width; 0 means ``1 / n_features``.
    n_components : int
        Nystroem components (RBF only).
    max_iter : int
    n_features : int
        Feature dimension (for the default gamma).
    seed : int

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    from sklearn.kernel_approximation import Nystroem
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    # The dual solver: with a few thousand (kernel-mapped) features it converges
    # in seconds where the primal one takes minutes (BENCHMARKS.md).
    svm = LinearSVC(C=c, dual=True, max_iter=max_iter, tol=1e-3, random_state=seed)
    if kernel == "linear":
        return Pipeline([("svm", svm)])
    if kernel == "rbf":
        gamma = gamma or 1.0 / max(n_features, 1)
        return Pipeline([("rbf", Nystroem(gamma=gamma, n_components=n_components, random_state=seed)), ("svm", svm)])
    raise TrainingError(f"unknown SVM kernel {kernel!r} (linear, rbf)")


def svm_probabilities(model, features):
    """Softmax of the SVM's decision values: scores that sum to one per row.

    They rank classes exactly as the SVM does; they are not calibrated
    probabilities.
    """
    scores = np.asarray(model.decision_function(features), dtype=np.float64)
    scores -= scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def train_svm(config, force=False, log=print):
    """Train the SVM baseline and write a bundle like the CNN's.

    Parameters
    ----------
    config : dict
        Training configuration (``features``, ``svm_*`` settings, ``data``, ``out``).
    force : bool, optional
        Replace an existing run folder.

    Returns
    -------
    dict
        ``val_accuracy``, ``seconds`` (fit time).
    """
    if config["features"] == "none" or config["features"] not in FEATURE_SETS:
        raise TrainingError("the SVM needs a feature set: landmarks, landmarks_hog or landmarks_hog_windows")
    run_dir = config["out"]
    if os.path.exists(os.path.join(run_dir, "bundle.json")) and not force:
        raise TrainingError(f"{run_dir} holds a run already: use --force to replace it")
    train_data, val, standardizer, manifest = load_training_data({**config, "augment": False})
    x = standardizer(train_data["features"])
    model = build_svm(config["svm_kernel"], config["svm_c"], config["svm_gamma"], config["svm_components"],
                      config["svm_max_iter"], x.shape[1], config["seed"])
    log(f"training {config['svm_kernel']} SVM on {len(x)} rows of {x.shape[1]} features")
    started = time.perf_counter()
    model.fit(x, train_data["labels"])
    seconds = time.perf_counter() - started
    val_acc = float(np.mean(model.predict(standardizer(val[1])) == val[2]))
    log(f"fitted in {seconds:.1f} s; PublicTest accuracy {val_acc:.4f}")
    meta = make_meta("svm", manifest["classes"], manifest["class_ids"], config["features"], standardizer,
                     config, model="svm", data_sha256=manifest.get("source_sha256"))
    meta["metrics"] = {"val_accuracy": val_acc, "fit_seconds": round(seconds, 1)}
    save_bundle(run_dir, model, meta)
    final = {"val_accuracy": val_acc, "seconds": round(seconds, 1)}
    finish_run(run_dir, config["data"], final, log=log)
    return final
