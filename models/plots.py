"""Figures: training curves and confusion matrices (written as PNG files)."""

import numpy as np

from ..features.util import atomic_path


def new_figure(figsize):
    """A matplotlib figure that belongs to no window and no global state.

    pyplot is never used: it would pick (or switch) the backend of the whole
    process, and keep every figure alive until closed.

    Parameters
    ----------
    figsize : (float, float)
        Inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def whole_number_ticks(ax):
    """Put the x axis' ticks on whole numbers only (epochs, trials)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def save_figure(fig, path):
    """Write ``fig`` as a PNG file atomically (a run stopped meanwhile keeps the previous file)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


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
    epochs = [h["epoch"] for h in history]
    fig = new_figure((10, 4))
    axes = fig.subplots(1, 2)
    for ax, key, title in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        ax.plot(epochs, [h[key] for h in history], label="train (augmented)")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], label="validation (PublicTest)")
        swa = [h["epoch"] for h in history if int(h.get("swa_models", 0))]
        if swa:
            ax.axvline(swa[0] - 0.5, color="grey", linestyle="--", label="weight averaging (validation: the average)")
        ax.set_xlabel("epoch")
        whole_number_ticks(ax)
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
    cm = np.asarray(confusion, dtype=np.float64)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(classes)
    fig = new_figure((6 + 1.2 * k, 0.6 * k + 2.5))
    axes = fig.subplots(1, 2)
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
