"""Figures: training curves and confusion matrices (written as PNG files)."""

import os

import numpy as np


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path):
    """Write ``fig`` as a PNG file atomically (a run stopped meanwhile keeps the previous file),
    then close it."""
    fig.savefig(f"{path}.tmp", dpi=100, format="png")
    pyplot().close(fig)
    os.replace(f"{path}.tmp", path)


def training_curves(history, path):
    """Loss and accuracy per epoch, training and validation.

    Parameters
    ----------
    history : list of dict
        One row per epoch with ``epoch``, ``loss``, ``accuracy``, ``val_loss``,
        ``val_accuracy`` and optionally ``swa_models`` (epochs averaged, from
        which on a dashed line marks the weight-averaging phase).
    path : str
        PNG file to write.
    """
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        ax.plot(epochs, [h[key] for h in history], label="train (augmented)")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], label="validation (PublicTest)")
        swa = [h["epoch"] for h in history if int(h.get("swa_models", 0))]
        if swa:
            ax.axvline(swa[0] - 0.5, color="grey", linestyle="--", label="weight averaging (validation: the average)")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def confusion_matrix_plot(confusion, classes, path, title=""):
    """Confusion matrix as counts and as row-normalised rates, side by side.

    Parameters
    ----------
    confusion : (K, K) array_like
        Rows are true classes, columns predictions.
    classes : list of str
    path : str
        PNG file to write.
    title : str, optional
    """
    plt = pyplot()
    cm = np.asarray(confusion, dtype=np.float64)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(classes)
    fig, axes = plt.subplots(1, 2, figsize=(6 + 1.2 * k, 0.6 * k + 2.5))
    for ax, values, fmt, name in ((axes[0], cm, "{:.0f}", "counts"), (axes[1], rates, "{:.2f}", "row-normalised")):
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center",
                        color="white" if rates[i, j] > 0.5 else "black", fontsize=8)
        ax.set_xticks(range(k), classes, rotation=45, ha="right")
        ax.set_yticks(range(k), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
