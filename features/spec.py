"""The feature specification: how a face becomes a model's inputs.

A :class:`FeatureSpec` names the feature set a model fuses with the image and
every setting that shapes those features: the image size, the crop of a
detected face, the landmark box, the whole-image and sliding-window HOG. It is
the one feature function of the toolkit. ``fer-convert`` computes the
dataset's arrays with it and records it in the manifest; training copies it
into every bundle; evaluation, augmentation, :class:`~models.Recognizer`,
``fer-video`` and ``fer-web`` read it from the bundle and nowhere else, so that
training and serving cannot disagree.
"""

from dataclasses import asdict, dataclass, fields, replace

import cv2
import numpy as np

from ..parameters import FEATURE_SETS, FEATURES, FEATURES_BEFORE_SPEC, VIDEO
from .faces import (CROP_FITS, crop_faces, crop_square, crop_square_image, crop_squares, fit_square, landmark_square,
                    tile_square)
from .hog import hog_batch, hog_windows_batch, window_positions
from .landmarks import clip_landmarks, flip_landmarks, landmarks_batch
from .util import unknown_keys


class SpecError(ValueError):
    """A feature specification that is malformed or impossible (one line)."""


@dataclass(frozen=True)
class FeatureSpec:
    """Feature set and feature settings (defaults: ``parameters.FEATURES``).

    Parameters
    ----------
    feature_set : str
        A key of :data:`parameters.FEATURE_SETS`: the arrays stacked, in order,
        into a model's ``features`` input.
    image_size : int
        Side of the square grey face (48 for FER-2013).
    landmark_box : tuple of int
        ``(left, top, right, bottom)`` box handed to dlib's 68-point predictor.
    hog_orientations, hog_cell : int
        Whole-image HOG: orientation bins and cell side (1x1-cell blocks).
    window_size, window_step, window_orientations, window_cell : int
        Sliding-window HOG: window side, stride, and the HOG inside each window.
    crop_scale, crop_shift_x, crop_shift_y : float
        Crop of a detected face: ``crop_scale`` times the box's larger side,
        centred on the box's centre shifted by the given fractions of it.
    crop_fit : str
        What fills a crop that runs past the image (a key of
        :data:`features.faces.CROP_FITS`).
    align : bool
        Rotate each face so that its eyes are level (:meth:`align_faces`)
        before any feature is computed.
    align_max_angle : float
        The largest rotation, in degrees.

    Raises
    ------
    SpecError
        Unknown feature set, wrong types, or settings that give no feature.
    """

    feature_set: str = FEATURES.feature_set
    image_size: int = FEATURES.image_size
    landmark_box: tuple = FEATURES.landmark_box
    hog_orientations: int = FEATURES.hog_orientations
    hog_cell: int = FEATURES.hog_cell
    window_size: int = FEATURES.window_size
    window_step: int = FEATURES.window_step
    window_orientations: int = FEATURES.window_orientations
    window_cell: int = FEATURES.window_cell
    crop_scale: float = FEATURES.crop_scale
    crop_shift_x: float = FEATURES.crop_shift_x
    crop_shift_y: float = FEATURES.crop_shift_y
    crop_fit: str = FEATURES.crop_fit
    align: bool = FEATURES.align
    align_max_angle: float = FEATURES.align_max_angle

    def __post_init__(self):
        object.__setattr__(self, "landmark_box", tuple(self.landmark_box))
        self._check()

    # --- checking and (de)serialising ------------------------------------------------

    def _check(self):
        def bad(name, problem):
            return SpecError(f"feature specification: {name} {problem}")

        if self.feature_set not in FEATURE_SETS:
            raise bad("feature_set", f"{str(self.feature_set)[:40]!r} is not one of {', '.join(FEATURE_SETS)}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type is int and (not isinstance(value, int) or isinstance(value, bool)):
                raise bad(f.name, f"must be an integer, got {type(value).__name__}")
            if f.type is float and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                    or not np.isfinite(value)):
                raise bad(f.name, f"must be a finite number, got {type(value).__name__}")
            if f.type is bool and not isinstance(value, bool):
                raise bad(f.name, f"must be true or false, got {type(value).__name__}")
        if not 8 <= self.image_size <= 512:
            raise bad("image_size", f"must be in 8..512, got {self.image_size}")
        box = self.landmark_box
        if len(box) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in box) \
                or not (0 <= box[0] < box[2] < self.image_size and 0 <= box[1] < box[3] < self.image_size):
            raise bad("landmark_box", f"must be 4 integers left < right, top < bottom inside the "
                                      f"{self.image_size}-pixel image, got {str(box)[:60]}")
        for name in ("hog_orientations", "window_orientations"):
            if not 1 <= getattr(self, name) <= 36:
                raise bad(name, f"must be in 1..36, got {getattr(self, name)}")
        if not 2 <= self.hog_cell <= self.image_size:
            raise bad("hog_cell", f"must be in 2..{self.image_size} (the image side), got {self.hog_cell}")
        if not 2 <= self.window_size <= self.image_size:
            raise bad("window_size", f"must be in 2..{self.image_size} (the image side), got {self.window_size}")
        if not 1 <= self.window_step <= self.image_size:
            raise bad("window_step", f"must be in 1..{self.image_size}, got {self.window_step}")
        if not 2 <= self.window_cell <= self.window_size:
            raise bad("window_cell", f"must be in 2..{self.window_size} (the window side), got {self.window_cell}")
        if not 0.5 <= self.crop_scale <= 4:
            raise bad("crop_scale", f"must be in 0.5..4, got {self.crop_scale}")
        for name in ("crop_shift_x", "crop_shift_y"):
            if not -1 <= getattr(self, name) <= 1:
                raise bad(name, f"must be in -1..1, got {getattr(self, name)}")
        if not 0 <= self.align_max_angle <= 90:
            raise bad("align_max_angle", f"must be in 0..90, got {self.align_max_angle}")
        if self.crop_fit not in CROP_FITS:
            raise bad("crop_fit", f"{str(self.crop_fit)[:40]!r} is not one of {', '.join(CROP_FITS)}")

    def settings(self):
        """Every setting except the feature set: what must match between a
        model and the data or faces it is given.

        Returns
        -------
        dict
            JSON-ready (tuples as lists).
        """
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        del out["feature_set"]
        return out

    def to_json(self):
        """The specification as a JSON-ready dict (``feature_set`` first)."""
        return {"feature_set": self.feature_set, **self.settings()}

    @classmethod
    def from_json(cls, data, feature_set=None):
        """A specification read from a manifest or ``bundle.json``.

        Parameters
        ----------
        data : dict or None
            As written by :meth:`to_json` or :meth:`settings`; None for a file
            written before specifications were recorded, whose settings are
            ``parameters.FEATURES_BEFORE_SPEC`` (as are those of any setting
            newer than the file).
        feature_set : str, optional
            Overrides (or supplies) the feature set.

        Returns
        -------
        FeatureSpec

        Raises
        ------
        SpecError
            Not an object, an unknown key, or a bad value.
        """
        data = {} if data is None else data  # every setting from FEATURES_BEFORE_SPEC, below
        try:
            unknown = unknown_keys(data, cls)
        except ValueError as e:
            raise SpecError(f"feature specification: {e}") from None
        if unknown:
            raise SpecError(f"feature specification: unknown setting(s) {unknown}")
        # A setting newer than the file: it was written by a version that behaved as FEATURES_BEFORE_SPEC.
        values = {**cls.from_parameters(FEATURES_BEFORE_SPEC).to_json(), **data}
        if feature_set is not None:
            values["feature_set"] = feature_set
        if not isinstance(values["landmark_box"], (list, tuple)):
            raise SpecError("feature specification: landmark_box must be a list of 4 integers")
        return cls(**values)

    @classmethod
    def from_parameters(cls, params=FEATURES, **changes):
        """A specification from a ``parameters.Features`` value, with changes."""
        return replace(cls(**asdict(params)), **changes)

    def with_feature_set(self, feature_set):
        """The same settings with another feature set."""
        return replace(self, feature_set=feature_set)

    def differences(self, other, crop=True):
        """The settings (feature set excluded) that differ from ``other``'s.

        Parameters
        ----------
        other : FeatureSpec
        crop : bool, optional
            Compare the crop settings too (``crop_*``: how a face is cut from a
            photo). Converted data hold faces already cut: a model and its
            evaluation data need only agree on the rest.

        Returns
        -------
        list of str
            ``"name a vs b"``, empty when they agree.
        """
        mine, theirs = self.settings(), other.settings()
        return [f"{k} {mine[k]} vs {theirs[k]}" for k in mine
                if mine[k] != theirs[k] and (crop or not k.startswith("crop_"))]

    def describe(self):
        """A short human-readable summary of the HOG settings and image size."""
        return (f"{self.image_size}px, HOG {self.hog_orientations} orientations / {self.hog_cell}px cells, "
                f"windows {self.window_size}px step {self.window_step} ({self.window_orientations} orientations / "
                f"{self.window_cell}px cells)")

    # --- what the features are ---------------------------------------------------------

    @property
    def arrays(self):
        """Names of the arrays of the feature set, in stacking order."""
        return FEATURE_SETS[self.feature_set]

    @property
    def needs_hog(self):
        """Whether the feature set uses a HOG array (recomputed after augmentation)."""
        return any(name.startswith("hog") for name in self.arrays)

    @property
    def needs_landmarks(self):
        """Whether the feature set uses landmarks (they are then computed for every face)."""
        return "landmarks" in self.arrays

    def dimensions(self):
        """Length of each flattened feature array under these settings.

        Returns
        -------
        dict of str to int
        """
        size = self.image_size
        n_win = len(window_positions(size, self.window_size, self.window_step)) ** 2
        return {
            "landmarks": 68 * 2,
            "hog": (size // self.hog_cell) ** 2 * self.hog_orientations,
            "hog_windows": n_win * (self.window_size // self.window_cell) ** 2 * self.window_orientations,
        }

    @property
    def n_features(self):
        """Length of the stacked feature vector of the feature set (0 for ``none``)."""
        dims = self.dimensions()
        return sum(dims[name] for name in self.arrays)

    # --- computing them ----------------------------------------------------------------

    def _check_images(self, images):
        images = np.asarray(images)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected (N, H, W) uint8 images, got {images.shape} {images.dtype}")
        if images.shape[1:] != (self.image_size, self.image_size):
            raise ValueError(f"expected {self.image_size}x{self.image_size} faces (the specification's "
                             f"image_size), got {images.shape[2]}x{images.shape[1]}")
        return images

    def align_faces(self, images):
        """Faces rotated about their centre so that their eyes are level (with ``align``).

        The eyes are the means of dlib's points 36-41 and 42-47; the rotation
        is at most ``align_max_angle`` degrees, and the corners it uncovers
        replicate the border. Conversion and prediction both call this on
        the 48x48 faces before :meth:`extract`.

        Parameters
        ----------
        images : (N, S, S) uint8 ndarray

        Returns
        -------
        images : (N, S, S) uint8 ndarray
            The input itself without ``align``.
        angles : (N,) float64 ndarray
            Each face's rotation in degrees (counter-clockwise as shown; zeros without ``align``).
        """
        images = self._check_images(images)
        angles = np.zeros(len(images))
        if not self.align or not len(images):
            return images, angles
        points = landmarks_batch(images, box=self.landmark_box).astype(np.float64)
        delta = points[:, 42:48].mean(axis=1) - points[:, 36:42].mean(axis=1)
        angles = np.clip(np.degrees(np.arctan2(delta[:, 1], delta[:, 0])), -self.align_max_angle,
                         self.align_max_angle)
        centre = ((self.image_size - 1) / 2.0,) * 2
        out = np.empty_like(images)
        for i, angle in enumerate(angles):
            matrix = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
            out[i] = cv2.warpAffine(images[i], matrix, (self.image_size, self.image_size), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
        return out, angles

    def unalign_points(self, landmarks, angles):
        """Landmarks of aligned faces moved back onto the faces as they were before :meth:`align_faces`.

        Parameters
        ----------
        landmarks : (N, 68, 2) ndarray
        angles : (N,) ndarray
            As :meth:`align_faces` returned them.

        Returns
        -------
        (N, 68, 2) float64 ndarray
        """
        points = np.asarray(landmarks, dtype=np.float64)
        c = (self.image_size - 1) / 2.0
        theta = np.radians(np.asarray(angles, dtype=np.float64))[:, None]
        x, y = points[..., 0] - c, points[..., 1] - c
        # warpAffine maps a point p of the original to R p (R: the rotation by +angle as shown, y down);
        # back again is the inverse rotation.
        cos, sin = np.cos(theta), np.sin(theta)
        return np.stack([cos * x - sin * y + c, sin * x + cos * y + c], axis=-1)

    def extract(self, images, landmarks=True, hog=True):
        """Handcrafted feature arrays of a batch of faces.

        Parameters
        ----------
        images : (N, S, S) uint8 ndarray
            Grey faces, ``S = image_size``, framed as in FER-2013.
        landmarks : bool, optional
            Compute dlib's 68 landmarks.
        hog : bool, optional
            Compute the whole-image HOG and the sliding-window HOG.

        Returns
        -------
        dict of str to ndarray
            ``landmarks`` (N, 68, 2), ``hog`` (N, D1) and ``hog_windows``
            (N, D2), float32, for the features asked for.
        """
        images = self._check_images(images)
        out = {}
        if landmarks:
            out["landmarks"] = landmarks_batch(images, box=self.landmark_box)
        if hog:
            out["hog"] = hog_batch(images, orientations=self.hog_orientations, cell=self.hog_cell)
            out["hog_windows"] = hog_windows_batch(images, window=self.window_size, step=self.window_step,
                                                   orientations=self.window_orientations, cell=self.window_cell)
        return out

    def stack(self, arrays):
        """Flatten and concatenate the feature set's arrays, in a fixed order.

        Parameters
        ----------
        arrays : dict of str to ndarray
            As returned by :meth:`extract` (extra keys are ignored).

        Returns
        -------
        (N, D) float32 ndarray
            ``D = n_features`` (0 for ``none``).
        """
        if not self.arrays:
            n = len(next(iter(arrays.values()))) if arrays else 0
            return np.zeros((n, 0), dtype=np.float32)
        parts = [np.asarray(arrays[k]) for k in self.arrays]
        return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=1).astype(np.float32)

    def compute(self, images, landmarks=None):
        """The stacked raw (unstandardised) features of faces.

        Parameters
        ----------
        images : (N, S, S) uint8 ndarray
        landmarks : (N, 68, 2) ndarray, optional
            Landmarks already known (moved with an augmented or mirrored
            image); computed from ``images`` when needed and not given.

        Returns
        -------
        (N, D) float32 ndarray
        """
        arrays = self.extract(images, landmarks=self.needs_landmarks and landmarks is None, hog=self.needs_hog)
        if self.needs_landmarks and landmarks is not None:
            arrays["landmarks"] = np.asarray(landmarks, dtype=np.float32)
        arrays.setdefault("images", images)
        return self.stack(arrays)

    def mirror(self, images, landmarks=None):
        """Mirror images of faces, with their landmarks moved to match (``x``
        mirrored and left/right points swapped, so that point 36 stays the
        outer corner of the face's right eye).

        Parameters
        ----------
        images : (N, S, S) uint8 ndarray
        landmarks : (N, 68, 2) ndarray, optional

        Returns
        -------
        images : (N, S, S) uint8 ndarray
        landmarks : (N, 68, 2) float32 ndarray or None
        """
        flipped = np.ascontiguousarray(np.asarray(images)[:, :, ::-1])
        if landmarks is not None:
            landmarks = flip_landmarks(np.asarray(landmarks, dtype=np.float32), flipped.shape[2])
        return flipped, landmarks

    def mirror_inputs(self, images, landmarks=None):
        """Mirror images and their stacked raw features: the second view of
        flip test-time augmentation, made exactly as training's flip.

        Returns
        -------
        images : (N, S, S) uint8 ndarray
        features : (N, D) float32 ndarray
        """
        flipped, landmarks = self.mirror(images, landmarks)
        return flipped, self.compute(flipped, landmarks)

    def shift(self, images, landmarks, dx, dy):
        """Faces moved by whole pixels, as training's augmentation shifts them
        (the border reflected), with their landmarks moved and clipped to match.

        Parameters
        ----------
        images : (N, S, S) uint8 ndarray
        landmarks : (N, 68, 2) ndarray or None
        dx, dy : int
            Pixels right and down.

        Returns
        -------
        images : (N, S, S) uint8 ndarray
        landmarks : (N, 68, 2) float32 ndarray or None
        """
        images = np.asarray(images)
        matrix = np.float32([[1, 0, dx], [0, 1, dy]])
        size = (images.shape[2], images.shape[1])
        moved = np.stack([cv2.warpAffine(image, matrix, size, flags=cv2.INTER_NEAREST,
                                         borderMode=cv2.BORDER_REFLECT_101) for image in images]) \
            if len(images) else images.copy()
        if landmarks is not None:
            landmarks = clip_landmarks(np.asarray(landmarks, dtype=np.float32) + np.float32([dx, dy]),
                                       images.shape[1:])
        return moved, landmarks

    def tta_inputs(self, images, landmarks=None, shift=0):
        """The views of test-time augmentation besides the faces as given, each
        as ``(images, stacked raw features)``: the mirror images (flip TTA) and,
        with ``shift``, the faces moved diagonally by ``shift`` pixels each way
        (:meth:`shift`) and their mirror images, ten views in all with the
        plain one (as ten-crop averaging, at the image's own size).

        Parameters
        ----------
        images : (N, S, S) uint8 ndarray
        landmarks : (N, 68, 2) ndarray, optional
        shift : int, optional
            0: the mirror images only.

        Returns
        -------
        list of (images, features)
        """
        views = [self.mirror_inputs(images, landmarks)]
        for dx, dy in ((shift, shift), (shift, -shift), (-shift, shift), (-shift, -shift)) if shift else ():
            moved, moved_landmarks = self.shift(images, landmarks, dx, dy)
            views.append((moved, self.compute(moved, moved_landmarks)))
            views.append(self.mirror_inputs(moved, moved_landmarks))
        return views

    # --- faces in photos -----------------------------------------------------------------

    def crop_square(self, box):
        """The square ``(x0, y0, side)`` this specification crops around a face box."""
        return crop_square(box, self.crop_scale, self.crop_shift_x, self.crop_shift_y)

    def crop(self, gray, boxes):
        """Faces cut from a grey image around their boxes, as the model expects them.

        Parameters
        ----------
        gray : (H, W) uint8 ndarray
        boxes : sequence of (x, y, w, h)

        Returns
        -------
        (N, S, S) uint8 ndarray
        """
        return crop_faces(gray, boxes, self.image_size, self.crop_scale, self.crop_shift_x, self.crop_shift_y,
                          self.crop_fit)

    def crop_framed(self, gray, boxes, reframe=VIDEO.reframe, frame=(VIDEO.reframe_side, VIDEO.reframe_offset),
                    max_change=VIDEO.reframe_max_change, landmarks=None, tile=VIDEO.tile):
        """Faces cut from a grey image around their boxes (:meth:`crop`), then cut
        again from their own landmarks at FER-2013's framing, ``reframe`` times,
        and from the tile that frames them, if any (``tile``).

        Each pass finds the 68 landmarks on the current crop (as the features do),
        maps them into the image and cuts the square
        :func:`features.faces.landmark_square` puts around them, filled as
        ``crop_fit`` says. A square more than ``max_change`` times larger or
        smaller than the crop it comes from (a landmark fit that failed) keeps
        that crop.

        Parameters
        ----------
        gray : (H, W) uint8 ndarray
        boxes : sequence of (x, y, w, h)
        reframe : int, optional
            Passes (0: :meth:`crop` alone).
        frame : (float, (float, float)), optional
            The square's side and its centre's offset, in landmark spreads.
        max_change : float, optional
        landmarks : sequence of (68, 2) array_like, optional
            Per box, landmarks in the image's pixels known already (video: the
            previous frame's): the first pass cuts from them instead of fitting
            landmarks on the box's crop, so that pass costs no landmark fit.
        tile : bool, optional
            After the passes (none where ``reframe`` is 0), a face inside a
            square with straight edges on all four sides that frames it as a
            face crop does is cut as that square (:func:`features.faces.tile_square`).

        Returns
        -------
        squares : list of (x0, y0, side)
            The square each crop was cut from, in the image's pixels.
        crops : (N, S, S) uint8 ndarray
        """
        h, w = gray.shape
        squares = [self.crop_square_in(b, w, h) for b in boxes]
        given = landmarks is not None and reframe > 0 and len(squares) > 0
        crops = None if given else self.crop(gray, boxes)
        for i in range(reframe if len(squares) else 0):
            if i == 0 and given:
                points = [np.asarray(p, np.float64) for p in landmarks]
            else:
                fitted = landmarks_batch(crops, box=self.landmark_box).astype(np.float64)
                points = [(x0, y0) + (p + 0.5) * (side / self.image_size) - 0.5
                          for (x0, y0, side), p in zip(squares, fitted)]
            squares = self.frame_squares(squares, points, w, h, frame, max_change)
            crops = crop_squares(gray, squares, self.image_size, self.crop_fit)
        if tile and reframe > 0 and len(squares):
            tiled = [tile_square(gray, square) for square in squares]
            if tiled != squares:
                squares, crops = tiled, crop_squares(gray, tiled, self.image_size, self.crop_fit)
        return squares, crops

    def frame_squares(self, squares, landmarks, width, height, frame=(VIDEO.reframe_side, VIDEO.reframe_offset),
                      max_change=VIDEO.reframe_max_change):
        """The squares that frame faces at FER-2013's framing from their landmarks
        (one pass of :meth:`crop_framed`).

        Parameters
        ----------
        squares : sequence of (x0, y0, side)
            Each face's current crop, kept where the new square is more than
            ``max_change`` times larger or smaller (a failed landmark fit).
        landmarks : sequence of (68, 2) ndarray
            In the image's pixels.
        width, height : int
            The image's size (``crop_fit`` "shrink" fits the squares into it).
        frame, max_change
            As :meth:`crop_framed`'s.

        Returns
        -------
        list of (x0, y0, side)
        """
        framed = []
        for (x0, y0, side), points in zip(squares, landmarks):
            square = landmark_square(points, *frame)
            if self.crop_fit == "shrink":
                square = fit_square(*square, width, height)
            framed.append(square if 1 / max_change <= square[2] / side <= max_change else (x0, y0, side))
        return framed

    def crop_whole(self, gray):
        """The image itself as a face crop (its central square), for images
        that are face crops already (a FER-2013 face, a passport photo).

        Returns
        -------
        (1, S, S) uint8 ndarray
        """
        h, w = gray.shape
        side = min(h, w)
        return crop_square_image(gray, (w - side) / 2.0, (h - side) / 2.0, side, self.image_size)[None]

    def crop_square_in(self, box, width, height):
        """The square ``(x0, y0, side)`` that :meth:`crop` cuts around ``box`` in a
        ``width`` x ``height`` image."""
        x0, y0, side = self.crop_square(box)
        return fit_square(x0, y0, side, width, height) if self.crop_fit == "shrink" else (x0, y0, side)
