"""Labelled image folders: ``DIR/<class>/<image>``, class names matched to a model's."""

import os
import stat

from ..parameters import FERPLUS_CLASSES, SPLITS

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


#: Split folder names (lower case) and the FER-2013 split each one stands for.
SPLIT_FOLDERS = {
    "train": "Training", "training": "Training",
    "val": "PublicTest", "valid": "PublicTest", "validation": "PublicTest", "publictest": "PublicTest",
    "test": "PrivateTest", "privatetest": "PrivateTest",
}

#: The classes a labelled folder tree can map onto by name: FER-2013's seven in their
#: order, then FERPlus' contempt (class id 7).
KNOWN_CLASSES = FERPLUS_CLASSES


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


def _listing(folder):
    """Entries of a folder, sorted, hidden ones left out."""
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as e:
        raise FolderError(f"{folder}: cannot list ({e.strerror})") from None


def _files_under(folder, skipped):
    """Every file below a class folder (sub-folders included, symbolic links to
    folders not followed), sorted; what cannot be a file is added to ``skipped``."""
    out = []
    for entry in _listing(folder):
        path = entry.path
        try:
            mode = os.stat(path).st_mode  # follows a link to a file
        except OSError as e:  # a dangling link or a link loop
            skipped.append((path, f"unreadable ({e.strerror.lower()})"))
            continue
        if stat.S_ISDIR(mode):
            if entry.is_symlink():
                skipped.append((path, "symbolic link to a folder (not followed)"))
            else:
                out.extend(_files_under(path, skipped))
        elif stat.S_ISREG(mode):
            out.append(path)
        else:
            skipped.append((path, "not a regular file"))
    return out


def _class_folders(folder):
    """The class folders of a folder, and the files lying beside them."""
    entries = _listing(folder)
    return [e for e in entries if e.is_dir()], [e.path for e in entries if not e.is_dir()]


def _canonical(name):
    """A class folder's name as the class it stands for (a known class's index, or the lower-case name)."""
    known = match_class(name, KNOWN_CLASSES)
    return name.lower() if known is None else known


def class_set(names):
    """Class names, their ids and each folder's class, from class folder names.

    When every name is one of :data:`KNOWN_CLASSES` (or a common spelling of
    one, :data:`CLASS_SPELLINGS`), the classes are those present in FER-2013's
    order (contempt last) with FER-2013's ids, so that the FER-2013 JPEG
    release maps onto the usual seven; any other set of names is a new class
    set, in sorted order, with ids ``0..K-1``.

    Parameters
    ----------
    names : iterable of str
        Class folder names (of every split).

    Returns
    -------
    classes : list of str
    class_ids : list of int
    index : dict of str to int
        Each folder name's position in ``classes``.

    Folders that name one class (``anger`` and ``angry``) are merged into it.

    Raises
    ------
    FolderError
        Fewer than two classes.
    """
    names = sorted(set(names), key=lambda n: (n.lower(), n))
    known = {n: match_class(n, KNOWN_CLASSES) for n in names}
    if all(i is not None for i in known.values()):
        ids = sorted(set(known.values()))
        classes = [KNOWN_CLASSES[i] for i in ids]
        index = {n: ids.index(i) for n, i in known.items()}
    else:
        classes = list(dict.fromkeys(n.lower() for n in names))
        ids = list(range(len(classes)))
        index = {n: classes.index(n.lower()) for n in names}
    if len(classes) < 2:
        raise FolderError(f"one class only ({', '.join(names) or 'none'}): a model needs at least two class folders")
    return classes, ids, index


def scan_tree(root):
    """The images of a labelled folder tree, by split and class folder.

    ``root/<class>/*`` is all Training; ``root/<split>/<class>/*`` maps split
    folders through :data:`SPLIT_FOLDERS` (case-insensitive). Files below a
    class folder's sub-folders belong to it too; symbolic links to files are
    followed, links to folders are not.

    Parameters
    ----------
    root : str

    Returns
    -------
    files : dict of str to list of (str, str)
        Per split (only those present), ``(path, class folder name)`` pairs, sorted.
    skipped : list of (str, str)
        Paths left out and why (files beside the class folders, dangling links, ...).

    Raises
    ------
    FolderError
        No such folder, a file where a folder is expected, split folders mixed
        with class folders, two folders for one split, or class folders that
        differ between splits (one line each).
    """
    if not os.path.exists(root):
        raise FolderError(f"{root}: no such folder")
    if not os.path.isdir(root):
        raise FolderError(f"{root}: a file, not a folder of images (expected {root}/<class>/<image> "
                          f"or {root}/<split>/<class>/<image>)")
    top, loose = _class_folders(root)
    splits = {e.name: SPLIT_FOLDERS.get(e.name.lower()) for e in top}
    if any(splits.values()) and not all(splits.values()):
        others = [n for n, s in splits.items() if not s]
        raise FolderError(f"{root}: split folders ({', '.join(n for n, s in splits.items() if s)}) mixed with "
                          f"other folders ({', '.join(others[:5])}): put every class folder inside a split folder")
    skipped = [(p, "not inside a class folder") for p in loose]
    layout = {}
    if top and all(splits.values()):
        for entry in top:
            split = splits[entry.name]
            if split in layout:
                raise FolderError(f"{root}: two folders for the {split} split ({layout[split][0]}, {entry.name})")
            classes, stray = _class_folders(entry.path)
            skipped.extend((p, "not inside a class folder") for p in stray)
            layout[split] = (entry.name, classes)
    else:
        layout["Training"] = (".", top)
    files, seen = {}, {}
    for split in SPLITS:
        if split not in layout:
            continue
        name, folders = layout[split]
        if not folders:
            raise FolderError(f"{os.path.join(root, name)}: no class folders (expected <class>/<image>)")
        seen[split] = {e.name for e in folders}
        files[split] = [(path, e.name) for e in folders for path in _files_under(e.path, skipped)]
    first = next(iter(seen))
    for split, names in seen.items():
        mine, theirs = {_canonical(n) for n in names}, {_canonical(n) for n in seen[first]}
        if mine != theirs:
            only_a = sorted(n for n in seen[first] if _canonical(n) not in mine)
            only_b = sorted(n for n in names if _canonical(n) not in theirs)
            raise FolderError(f"{root}: the class folders differ between splits: {layout[first][0]} has "
                              f"{', '.join(only_a) or 'no other'}, {layout[split][0]} has {', '.join(only_b) or 'no other'}")
    if not any(files.values()):
        raise FolderError(f"{root}: no files in the class folders")
    return files, skipped
