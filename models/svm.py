"""SVM baseline on the same standardised features as the CNNs' feature branch.

A linear SVM (``LinearSVC``), or an RBF SVM approximated by a Nystroem kernel
map followed by a linear SVM: an exact RBF ``SVC`` on 28,709 rows of 1,936
features takes far longer (see BENCHMARKS.md). The fitted pipeline is saved
with ``skops`` (no pickle), so loading a bundle cannot run code. Training it
on converted data is :func:`models.train.train_svm`.
"""

import numpy as np

from ..parameters import SVM, TRAINING


def build_svm(kernel=SVM.svm_kernel, c=SVM.svm_c, gamma=SVM.svm_gamma, n_components=SVM.svm_components,
              max_iter=SVM.svm_max_iter, n_features=1, seed=TRAINING.seed):
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
    raise ValueError(f"unknown SVM kernel {kernel!r} (linear, rbf)")


def svm_probabilities(model, features):
    """Softmax of the SVM's decision values: scores that sum to one per row.

    They rank classes exactly as the SVM does; they are not calibrated
    probabilities.
    """
    scores = np.asarray(model.decision_function(features), dtype=np.float64)
    scores -= scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
