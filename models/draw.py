"""Drawing results: boxes and labels on images, probability bar charts."""

import cv2


def annotate(image, faces, show_confidence=True, show_probabilities=False, numbered=False):
    """Draw face boxes, labels and confidences on a copy of an image.

    Parameters
    ----------
    image : ndarray
        Grey, BGR or BGRA.
    faces : list of dict
        As returned by :meth:`models.recognizer.Recognizer.predict`.
    show_confidence : bool, optional
    show_probabilities : bool, optional
        List every class's probability under the box.
    numbered : bool, optional
        Prefix each label with the face's number (1, 2, ...).

    Returns
    -------
    (H, W, 3) uint8 ndarray
        BGR.
    """
    if image.ndim == 2:
        out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        out = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    else:
        out = image.copy()
    scale = max(0.4, min(out.shape[:2]) / 800.0)
    thickness = max(1, int(round(2 * scale)))
    for i, face in enumerate(faces):
        x, y, w, h = face["box"]
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 200, 0), thickness)
        text = (f"{i + 1}: " if numbered else "") + face["label"]
        if show_confidence:
            text += f" {face['confidence']:.0%}"
        _label(out, text, (x, max(0, y - 4)), scale, thickness)
        if show_probabilities:
            ranked = sorted(face["probabilities"].items(), key=lambda kv: -kv[1])
            for j, (name, p) in enumerate(ranked):
                _label(out, f"{name} {p:.0%}", (x, y + h + int((j + 1) * 22 * scale)), scale * 0.8, thickness)
    return out


def write_image(path, image):
    """Write an image file, or raise a one-line :class:`features.faces.ImageError`."""
    from ..features.faces import ImageError

    try:
        ok = cv2.imwrite(path, image)
    except cv2.error:
        ok = False
    if not ok:
        raise ImageError(f"{path}: cannot write an image there (check the folder and the extension, e.g. .png)")


def _label(image, text, origin, scale, thickness):
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = origin
    y = max(th + base, y)
    cv2.rectangle(image, (x, y - th - base), (x + tw, y + base // 2), (0, 0, 0), -1)
    cv2.putText(image, text, (x, y - base // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def probability_bars(faces, path, title=""):
    """One horizontal bar chart of class probabilities per face, in one PNG.

    Parameters
    ----------
    faces : list of dict
    path : str
    title : str, optional
    """
    from .plots import new_figure

    n = max(1, len(faces))
    fig = new_figure((5, 2.2 * n))
    axes = fig.subplots(n, 1, squeeze=False)
    for i, face in enumerate(faces):
        ax = axes[i, 0]
        names = list(face["probabilities"])
        values = [face["probabilities"][k] for k in names]
        colors = ["C1" if k == face["label"] else "C0" for k in names]
        ax.barh(names, values, color=colors)
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title(f"face {i + 1}: {face['label']} ({face['confidence']:.0%})", fontsize=10)
    if not faces:
        axes[0, 0].text(0.5, 0.5, "no face found", ha="center", va="center")
        axes[0, 0].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except (OSError, ValueError) as e:
        from ..features.faces import ImageError

        raise ImageError(f"{path}: cannot write the chart there ({e})") from None
