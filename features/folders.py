"""Labelled image folders: ``DIR/<class>/<image>``, class names matched to a model's."""

import os

#: Image file extensions read from labelled folders (lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")

#: Common spellings of FER-2013's (and FERPlus') class names, by lower-case canonical name.
CLASS_SPELLINGS = {
    "angry": ("angry", "anger", "mad"),
    "disgust": ("disgust", "disgusted", "disgusting"),
    "fear": ("fear", "fearful", "afraid", "scared"),
    "happy": ("happy", "happiness", "joy", "smile"),
    "sad": ("sad", "sadness"),
    "surprise": ("surprise", "surprised"),
    "neutral": ("neutral",),
    "contempt": ("contempt",),
}

#: Folder names that hold images without any face (to count false faces).
NO_FACE_FOLDERS = ("none", "no_face", "no-face", "noface", "background", "backgrounds")


class FolderError(Exception):
    """A labelled folder that cannot be read as asked (one line)."""


def match_class(folder, classes):
    """The index in ``classes`` that a class folder's name stands for, or None.

    Names match case-insensitively, and through :data:`CLASS_SPELLINGS`
    (``anger`` is ``Angry``, ``happiness`` is ``Happy``).

    Parameters
    ----------
    folder : str
    classes : sequence of str

    Returns
    -------
    int or None
    """
    name = folder.strip().lower()
    lowered = [c.lower() for c in classes]
    if name in lowered:
        return lowered.index(name)
    for i, c in enumerate(lowered):
        if name in CLASS_SPELLINGS.get(c, ()) or any(c in s and name in s for s in CLASS_SPELLINGS.values()):
            return i
    return None


def labelled_images(root, classes):
    """The images of a labelled folder tree, with their class.

    Parameters
    ----------
    root : str
        ``root/<class>/<image>``; a class folder named as in
        :data:`NO_FACE_FOLDERS` holds images without a face (label None).
    classes : sequence of str
        The model's class names.

    Returns
    -------
    list of (str, int or None)
        Image paths (sorted) and their class index.

    Raises
    ------
    FolderError
        No such folder, a class folder that names no class of the model, or no image at all.
    """
    if not os.path.isdir(root):
        raise FolderError(f"{root}: no such folder" if not os.path.exists(root) else f"{root}: not a folder")
    items, unknown = [], []
    for folder in sorted(os.listdir(root)):
        path = os.path.join(root, folder)
        if folder.startswith(".") or not os.path.isdir(path):
            continue
        label = None if folder.lower() in NO_FACE_FOLDERS else match_class(folder, classes)
        if label is None and folder.lower() not in NO_FACE_FOLDERS:
            unknown.append(folder)
            continue
        for name in sorted(os.listdir(path)):
            if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(path, name)):
                items.append((os.path.join(path, name), label))
    if unknown:
        raise FolderError(f"{root}: class folder(s) {', '.join(repr(u[:40]) for u in unknown[:5])} name no class of the "
                          f"model ({', '.join(classes)}; or {NO_FACE_FOLDERS[0]!r} for images without a face)")
    if not items:
        raise FolderError(f"{root}: no image files in <class>/ folders (expected {root}/<class>/<image>, "
                          f"classes {', '.join(classes)})")
    return items
