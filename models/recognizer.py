"""Recognise facial expressions in photos and video frames.

    >>> from fer_toolkit import Recognizer
    >>> faces = Recognizer().predict("photo.jpg")
    >>> faces[0]["label"], faces[0]["confidence"], faces[0]["box"]

Faces are cropped, and the path from a crop to probabilities is the one
evaluation uses, all by the bundle's own feature specification
(:class:`features.spec.FeatureSpec`), then the bundle's standardisation and model.
"""

import copy
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..features.faces import (HOG_DETECTORS, ImageError, check_coarse_refine, check_last_look, check_turns,
                              detect_faces, face_crop_box, look_turned, square_points, to_gray, turned_boxes,
                              turned_square)
from ..features.images import DecodedImage, ImageTooLarge, check_image_file, decode_image, load_image  # noqa: F401
from ..parameters import VIDEO

from .bundle import BundleError, load_bundle, mean_over_views
from .ensemble import check_ensemble
from .fast import ClassifierRunner
from .mtcnn import coarse_faces, look_beside
from .proposer import PROPOSERS, blazeface, propose_faces


_look_pools = {}
_look_pools_lock = threading.Lock()


def _look_pool():
    """Threads for the looks run beside other work: the face-crop rule's, beside the features of the
    image taken whole, and the group look's MTCNN, beside HOG's search of a photo (dlib's detector,
    LiteRT and the compiled features release the GIL). One pool per process: a child
    forked after the pool started has none of its threads and gets a pool of its own."""
    with _look_pools_lock:
        pid = os.getpid()
        if pid not in _look_pools:
            _look_pools[pid] = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="fer-look")
        return _look_pools[pid]


def proposed_candidates(gray):
    """BlazeFace's best ``VIDEO.proposer_candidates`` proposals, down to
    ``VIDEO.proposer_candidate_score`` and at least ``VIDEO.proposer_candidate_min_side``
    pixels wide: candidates that ``dlib+cnn``'s CNN checks where HOG finds no
    face (:func:`features.faces.detect_faces`'s ``propose``)."""
    proposals = [box for box, _ in blazeface()(gray, VIDEO.proposer_candidate_score)
                 if min(box[2], box[3]) >= VIDEO.proposer_candidate_min_side]
    return proposals[: VIDEO.proposer_candidates]


class Recognizer:
    """Find faces and recognise their expressions.

    Parameters
    ----------
    model : str or sequence of str, optional
        A shipped model's name (``"fer2013"``, ``"ferplus"``:
        :func:`models.bundle.resolve_model`) or a model bundle folder (a
        ``fer-train`` run); None for the default shipped model
        (``parameters.DEFAULT_MODEL``). Several make an ensemble: each face's
        probabilities are the mean of the members' (each computes the features
        of its own specification from the same crop, so the members must
        agree on the classes and on how a face is cropped).
    detector : {"dlib", "opencv", "cnn", "dlib+cnn"}, optional
        Face detector (:data:`features.faces.DETECTORS`); the default, for
        photos, is dlib's HOG detector followed, where HOG (and the group
        look's MTCNN) finds nothing, by ``last_look``.
    upsample : int, optional
        dlib's upsampling, to find faces smaller than about 80 pixels.
    max_side : int, optional
        Larger images are shrunk to this for detection (boxes stay in the
        original pixels).
    tta : bool, optional
        Flip test-time augmentation: average the probabilities of each face
        and of its mirror image (twice the model work).
    tta_shift : int, optional
        With ``tta``: also the face shifted diagonally by this many pixels
        each way and those views' mirror images, ten views in all
        (:meth:`features.spec.FeatureSpec.tta_inputs`; 0: flip only).
    max_pixels : int, optional
        Image files with more pixels are refused (:class:`ImageTooLarge`)
        before they are decoded.
    whole_image : bool, optional
        Every image is a face crop already (a FER-2013 face, a passport
        photo): its central square is the face, nothing is detected.
    crop_rule : bool, optional
        With the HOG detectors (``dlib``, ``dlib+cnn``), a small image that
        is framed like a FER-2013 face is taken whole, as with
        ``whole_image`` (:func:`features.faces.face_crop_box`: it needs a
        face found, so an image without one still has none).
    coarse_side : int, optional
        Look for faces on the image shrunk to this first, and at
        ``max_side`` only where that finds none (video: speed first; 0: off;
        see :func:`features.faces.detect_faces`).
    fast : bool, optional
        Run the classifier on LiteRT for up to ``VIDEO.litert_max_batch``
        faces at a time (:class:`models.fast.ClassifierRunner`: the same
        probabilities to about 1e-6, in half the time); False: Keras, as
        evaluation runs it.
    proposer : {"none", "blazeface"}, optional
        A first look at photos larger than ``VIDEO.small_side`` with the HOG
        detectors: BlazeFace's proposed faces, confirmed by HOG around each,
        are the faces when all are confirmed, else the photo is searched as
        usual (:func:`models.proposer.propose_faces`: faster, but a face
        BlazeFace misses is lost when it proposes another; default off).
    reframe : int, optional
        Each face found (or given as a box) is cut again this many times from its
        own landmarks at FER-2013's framing
        (:meth:`features.spec.FeatureSpec.crop_framed`); faces taken whole keep
        their crop (0: the detector's box alone frames the face).
    tile : bool, optional
        After re-framing, a face inside a square with straight edges on all
        four sides (a photo in a photo, a face crop pasted into a page) that
        frames it as a face crop does is cut as that square, as the face-crop
        rule takes a whole image (:func:`features.faces.tile_square`; default
        ``VIDEO.tile``; not in video, :meth:`with_detection`).
    group_look : bool, optional
        In a photo larger than ``VIDEO.small_side``, MTCNN looks at the photo
        beside HOG's search (:func:`models.mtcnn.look_beside`): where the search
        finds faces, MTCNN's smaller faces beside them are added (a group
        photo's); where HOG's first look finds none, MTCNN's faces come before
        the slower looks (``VIDEO.group_look_before_retry``). Not with a face
        proposer's faces, nor in video (:meth:`with_detection`), where speed
        comes first.
    last_look : {"slow", "yunet"}, optional
        The ``dlib+cnn`` detector's last look at a photo larger than
        ``VIDEO.small_side`` where the looks before it find no face
        (:func:`features.faces.detect_faces`; default ``VIDEO.photo_last_look``):
        ``slow``, HOG upsampled then dlib's CNN around candidates and over the
        whole photo (about 2 s for a 640x480 photo without a face), or
        ``yunet`` (the default), YuNet's candidates checked by dlib's CNN, and
        the slower looks only where YuNet is sure of a face the CNN does not
        confirm (about a thirtieth of the time without a face; 0.6 points
        fewer of the hardest faces found). ``yunet`` falls back to ``slow``
        where YuNet is not available (:mod:`features.yunet`).
    """

    def __init__(self, model=None, detector=VIDEO.photo_detector, upsample=VIDEO.upsample,
                 max_side=VIDEO.detect_max_side, tta=False, max_pixels=VIDEO.max_pixels, whole_image=False,
                 coarse_side=0, fast=True, crop_rule=VIDEO.crop_rule, proposer=VIDEO.photo_proposer,
                 tta_shift=VIDEO.tta_shift, reframe=VIDEO.reframe, group_look=VIDEO.group_look,
                 last_look=VIDEO.photo_last_look, tile=VIDEO.tile, turns=VIDEO.photo_turns):
        paths = [model] if model is None or isinstance(model, (str, os.PathLike)) else list(model)
        if not paths:
            raise BundleError("an ensemble needs at least one model bundle")
        bundles = [load_bundle(path) for path in paths]  # None and names: the shipped models
        check_ensemble(bundles)
        self.bundle = bundles[0]
        #: The bundle folders, in the order given (the members of an ensemble).
        self.model_paths = [b.path for b in bundles]
        self.spec = self.bundle.spec  # the crops' geometry, shared by every member
        self.classes = self.bundle.classes
        self.detector, self.upsample, self.max_side, self.tta = detector, upsample, max_side, tta
        self.tta_shift = tta_shift
        self.max_pixels, self.whole_image, self.coarse_side = max_pixels, whole_image, coarse_side
        if not isinstance(reframe, int) or reframe < 0:
            raise ValueError(f"reframe must be a whole number of passes, 0 or more, got {reframe!r}")
        self.reframe = reframe
        self.tile = bool(tile)
        self.group_look = bool(group_look)
        check_last_look(last_look)
        self.last_look = last_look
        self.turns = check_turns(turns)
        self.coarse_look = None  # video's coarse look (with_detection): MTCNN's, or the detector's own
        self.coarse_refine = "search"  # detect_faces' coarse_refine (with_detection: VIDEO.video_mtcnn_refine)
        self._crop_rule_asked = crop_rule
        self.crop_rule = crop_rule and detector in HOG_DETECTORS
        if proposer not in PROPOSERS:
            raise ValueError(f"unknown proposer {proposer!r} ({', '.join(PROPOSERS)})")
        if proposer != "none" and detector not in HOG_DETECTORS:
            raise ValueError(f"proposer {proposer} needs a HOG detector ({', '.join(HOG_DETECTORS)}), not {detector}")
        self.proposer = blazeface() if proposer == "blazeface" else None
        #: One classifier per ensemble member (one for a single model), in the order given.
        self.classifiers = [ClassifierRunner(b, max_batch=VIDEO.litert_max_batch if fast else 0) for b in bundles]
        self.classifier = self.classifiers[0]
        self._quantized_classifiers = None  # with_detection(quantized=True) makes them, once
        # Detection and features run concurrently; the model call is serialised
        # (Keras builds its predict function lazily, which is not thread-safe).
        self._model_lock = threading.Lock()

    def with_detection(self, detector, max_side, coarse_side=0, upsample=None, quantized=False,
                       coarse_refine=VIDEO.video_mtcnn_refine):
        """A recognizer with other face-detection settings that shares this one's models.

        Parameters
        ----------
        detector : str
            A detector of :data:`features.faces.DETECTORS`.
        max_side, coarse_side : int
            As the constructor's.
        upsample : int, optional
            Default: this recognizer's.
        quantized : bool, optional
            Its classifiers run the models with their weights quantised to 8 bits
            (:class:`models.fast.ClassifierRunner`; video's, ``VIDEO.video_quantized``),
            made once per recognizer; ignored where this one runs Keras (``fast=False``).
        coarse_refine : {"search", "keep", "none"}, optional
            What becomes of an MTCNN coarse box that HOG does not find again around
            itself (:func:`features.faces.detect_faces`; ``VIDEO.video_mtcnn_refine``).

        Returns
        -------
        Recognizer
            Without a face proposer, the group look nor turned looks; the face-crop rule as this one
            was asked for, where the detector is a HOG one; faces re-framed
            ``VIDEO.video_reframe`` times and no tile look (``VIDEO.video_tile``); with a HOG detector and
            ``VIDEO.video_coarse_mtcnn``, MTCNN's coarse look (:func:`models.mtcnn.coarse_faces`).
        """
        other = copy.copy(self)
        other.detector, other.max_side, other.coarse_side = detector, max_side, coarse_side
        other.reframe = VIDEO.video_reframe
        other.tile = VIDEO.video_tile
        other.group_look = False
        other.turns = ()
        other.upsample = self.upsample if upsample is None else upsample
        other.crop_rule = self._crop_rule_asked and detector in HOG_DETECTORS
        other.proposer = None
        other.coarse_look = coarse_faces if VIDEO.video_coarse_mtcnn and detector in HOG_DETECTORS else None
        check_coarse_refine(coarse_refine)  # before the first frame, not on it
        other.coarse_refine = coarse_refine
        if quantized and self.classifier.max_batch:
            with self._model_lock:
                if self._quantized_classifiers is None:
                    self._quantized_classifiers = [ClassifierRunner(c.bundle, max_batch=c.max_batch, quantized=True)
                                                   for c in self.classifiers]
            other.classifiers = self._quantized_classifiers
            other.classifier = other.classifiers[0]
        return other

    def stream(self, source, detect_every=VIDEO.detect_every, detector=VIDEO.detector,
               max_side=VIDEO.video_max_side, coarse_side=VIDEO.video_coarse_side, upsample=None,
               time_between_predictions=VIDEO.time_between_predictions, max_change=VIDEO.track_max_change,
               color_order="bgr", with_frames=False, quantized=VIDEO.video_quantized,
               track_reframe=VIDEO.track_reframe, coarse_refine=VIDEO.video_mtcnn_refine):
        """Recognise the faces of a video, a camera or a sequence of frames, frame by frame.

        Faces are detected every ``detect_every`` frames, with video's
        detection settings (those of ``fer-video``, which runs on this), and
        followed by their landmarks in between (:class:`models.video.FaceTracker`).

        Parameters
        ----------
        source : int, str, os.PathLike or iterable of ndarray
            A camera index, a video file, or frames (arrays, as OpenCV reads them).
        detect_every : int, optional
            1: detect on every frame.
        detector : str, optional
            The detector of the detection frames (default: HOG alone, video's).
        max_side, coarse_side : int, optional
            Frames are searched shrunk to ``coarse_side`` first, then to
            ``max_side`` where that finds no face (:func:`features.faces.detect_faces`).
        upsample : int, optional
            Default: this recognizer's.
        time_between_predictions : float, optional
            Seconds between two predictions (the video's time; the clock's for a camera
            and for frames); frames in between repeat the last faces (0: every frame).
        max_change : float, optional
            A followed face whose landmarks' spread changes more than this is detected again.
        color_order : {"bgr", "rgb"}, optional
            Of the frames.
        with_frames : bool, optional
            Give ``(frame, faces)`` pairs instead of the faces alone.
        quantized : bool, optional
            Run the classifier with its weights quantised to 8 bits (three to four
            times as fast; labels as float32's on all but 0.3% of test faces at most;
            ``VIDEO.video_quantized``); False: float32, as photos and evaluation.
        track_reframe : bool, optional
            Cut each followed face at FER-2013's framing around the previous frame's
            landmarks, without an extra landmark fit (``VIDEO.track_reframe``); False: around its box.
        coarse_refine : {"search", "keep", "none"}, optional
            As :meth:`with_detection`'s.

        Returns
        -------
        models.video.FaceStream
            An iterator of each frame's faces as :meth:`predict` gives them (its
            ``frames``, ``predictions``, ``detections`` and ``time`` count as it
            goes); it releases the source at the end, on ``close()`` and on
            leaving a ``with`` block.

        Raises
        ------
        models.video.VideoError
            No such file, an unreadable video, no camera at that index.

        Examples
        --------
        >>> recognizer = Recognizer()
        >>> for faces in recognizer.stream("clip.mp4"):  # doctest: +SKIP
        ...     print([face["label"] for face in faces])
        """
        from .video import FaceStream

        video = self.with_detection(detector, max_side, coarse_side, upsample, quantized, coarse_refine)
        return FaceStream(video, source, detect_every, max_change, time_between_predictions, color_order,
                          with_frames, track_reframe)

    def decode(self, image, color_order="bgr", grey=False):
        """:func:`decode_image` with this recognizer's limits: large JPEGs are
        decoded at the reduced size that detection would shrink them to anyway
        (``grey``: the grey image that detection and the features use)."""
        return decode_image(image, color_order, self.max_pixels, reduce_to=self.max_side, grey=grey)

    def detect(self, image, color_order="bgr"):
        """Face boxes ``(x, y, w, h)`` of an image, largest first, in the image's pixels."""
        decoded = self.decode(image, color_order, grey=True)
        gray = to_gray(decoded.array)
        boxes = [self._whole_box(gray)] if self.whole_image else self._find(gray)
        return [tuple(round(v * decoded.scale) for v in box) for box in boxes]

    def _find(self, gray):
        """Face boxes of a grey image: the face-crop rule's one box where it holds, else the detector's
        (its turned looks' mapped back where it finds none upright)."""
        crop_box = self._face_crop(gray)
        if crop_box:
            return [crop_box]
        boxes, turned, back = self._search(gray)
        return boxes if turned is None else turned_boxes(boxes, back, gray.shape)

    def _face_crop(self, gray):
        """The face box of an image that the face-crop rule takes whole, else None."""
        return face_crop_box(gray) if self.crop_rule else None

    def _detect(self, gray):
        """Face boxes of a grey image with this recognizer's detector settings."""
        if self.proposer is not None and max(gray.shape) > VIDEO.small_side:
            boxes = propose_faces(gray, self.proposer)
            if boxes:
                return boxes
        more = look = None
        if self.group_look and max(gray.shape) > VIDEO.small_side:  # MTCNN looks beside HOG's search
            more, look = look_beside(gray, _look_pool().submit)
        boxes = detect_faces(gray, self.detector, self.max_side, self.upsample, coarse_side=self.coarse_side,
                             propose=proposed_candidates if VIDEO.proposer_candidates else None, more=more,
                             coarse=self.coarse_look, coarse_refine=self.coarse_refine, last_look=self.last_look)
        if look is not None and not boxes:
            look.cancel()
        return boxes

    def _search(self, gray):
        """:meth:`_detect`'s face boxes of a grey image, and where it finds none, the turned looks'
        (``turns``; ``dlib+cnn`` only; :func:`features.faces.look_turned`).

        Returns
        -------
        boxes : list of (x, y, w, h)
            In ``gray``'s pixels, or in ``turned``'s where that is not None.
        turned, back : ndarray or None
            The turned image the boxes were found in, and its map back to ``gray``'s pixels.
        """
        boxes = self._detect(gray)
        if boxes or not self.turns or self.detector != "dlib+cnn":
            return boxes, None, None
        turned, back, boxes = look_turned(gray, self.turns)
        return boxes, turned, back

    def predict_crops(self, crops):
        """Probabilities and landmarks of grey face crops.

        This is the evaluation path: the bundle's feature specification (as
        conversion's), then the bundle's standardisation and model; for an
        ensemble, each member's, and the mean of their probabilities (as
        ``fer-evaluate`` with several ``--model``).

        Parameters
        ----------
        crops : (N, S, S) uint8 ndarray
            Faces cropped by :meth:`features.spec.FeatureSpec.crop` (``S``:
            the specification's ``image_size``, 48 for FER-2013 models).

        Returns
        -------
        probabilities : (N, K) float32 ndarray
        arrays : dict
            The features computed (the first member's for an ensemble;
            ``landmarks`` always, in the pixels of ``crops`` even where the
            specification aligns the faces first).
        """
        crops = np.asarray(crops, dtype=np.uint8)
        if not len(crops):
            return np.zeros((0, len(self.classes)), np.float32), {}
        return self._classify(self._prepare(crops))

    def _prepare(self, crops):
        """The first half of :meth:`predict_crops`: per member, the faces (aligned
        as its specification says), their rotation angles, feature arrays and
        stacked features (computed once for members whose specifications agree)."""
        done = {}
        for classifier in self.classifiers:
            spec = classifier.bundle.spec
            if spec not in done:
                faces, angles = spec.align_faces(crops)  # as conversion does, with the specification's align
                arrays = spec.extract(faces, landmarks=True, hog=spec.needs_hog)
                arrays["images"] = faces
                done[spec] = (faces, angles, arrays, spec.stack(arrays))
        return [done[c.bundle.spec] for c in self.classifiers]

    def _classify(self, prepared):
        """The second half of :meth:`predict_crops`: probabilities (the members'
        mean), and landmarks in the crops' pixels (the first member's)."""
        if self.tta:  # features outside the lock, like the plain view's, once per specification
            views = {}
            for c, (faces, _, arrays, _) in zip(self.classifiers, prepared):
                if c.bundle.spec not in views:
                    views[c.bundle.spec] = c.bundle.spec.tta_inputs(faces, arrays["landmarks"], self.tta_shift)
            others = [views[c.bundle.spec] for c in self.classifiers]
        with self._model_lock:
            probabilities = []
            for i, (classifier, (faces, _, _, features)) in enumerate(zip(self.classifiers, prepared)):
                p = classifier.predict_proba(faces, features)
                if self.tta:
                    p = mean_over_views(classifier.predict_proba, p, others[i])
                probabilities.append(p)
        _, angles, arrays, _ = prepared[0]
        if self.spec.align:
            arrays["landmarks"] = self.spec.unalign_points(arrays["landmarks"], angles).astype(np.float32)
        return (probabilities[0] if len(probabilities) == 1 else np.mean(probabilities, axis=0)), arrays

    def locate(self, gray, boxes=None, landmarks=None):
        """The faces of a grey image, ready for :meth:`predict_crops`.

        Parameters
        ----------
        gray : (H, W) uint8 ndarray
        boxes : sequence of (x, y, w, h), optional
            Face boxes to use instead of detecting faces.
        landmarks : sequence of (68, 2) array_like, optional
            With ``boxes``: each face's landmarks in the image's pixels, known
            already (video: the previous frame's); the face is cut from them at
            FER-2013's framing, as a first re-framing pass that needs no landmark
            fit, even where this recognizer does not re-frame
            (:meth:`features.spec.FeatureSpec.crop_framed`).

        Returns
        -------
        boxes : list of (x, y, w, h)
            Integer boxes, largest first (the whole image with ``whole_image``;
            the face's box when the face-crop rule takes the image whole).
        squares : list of (x0, y0, side) or (x0, y0, side, angle)
            The square each crop was cut from (re-framed from the face's landmarks
            ``reframe`` times); a face found by a turned look (``turns``) was cut
            upright from a square turned ``angle`` degrees about its centre
            (:func:`features.faces.square_points` maps a crop's points back).
        crops : (N, S, S) uint8 ndarray
        """
        crop_box = None if self.whole_image or boxes is not None else self._face_crop(gray)
        if self.whole_image or crop_box:
            x0, y0, side, _ = self._whole_box(gray)
            return [crop_box or (x0, y0, side, side)], [(float(x0), float(y0), float(side))], self.spec.crop_whole(gray)
        passes = self.reframe if landmarks is None else max(self.reframe, 1)
        if boxes is None:
            boxes, turned, back = self._search(gray)
            if turned is not None:  # cut upright from the turned photo, mapped back
                squares, crops = self.spec.crop_framed(turned, boxes, passes, tile=self.tile)
                return turned_boxes(boxes, back, gray.shape), [turned_square(s, back) for s in squares], crops
        boxes = [tuple(int(round(v)) for v in b) for b in boxes]
        squares, crops = self.spec.crop_framed(gray, boxes, passes, landmarks=landmarks, tile=self.tile)
        return boxes, squares, crops

    @staticmethod
    def _whole_box(gray):
        """The central square of an image as an ``(x, y, side, side)`` box."""
        h, w = gray.shape
        side = min(h, w)
        return ((w - side) // 2, (h - side) // 2, side, side)

    def predict(self, image, boxes=None, color_order="bgr", landmarks=None):
        """Recognise the expression of every face in an image.

        Parameters
        ----------
        image : str, os.PathLike, bytes, PIL.Image.Image, ndarray or DecodedImage
            Path, encoded file bytes, PIL image, or array (grey, BGR, BGRA,
            or RGB(A) with ``color_order="rgb"``), any size up to the
            recognizer's ``max_pixels``.
        boxes : sequence of (x, y, w, h), optional
            Face boxes to use instead of detecting faces (in the file's pixels).
        color_order : {"bgr", "rgb"}, optional
        landmarks : sequence of (68, 2) array_like, optional
            With ``boxes``: each face's 68 landmarks (in the file's pixels, as a
            result's ``landmarks``) from which its crop is cut at FER-2013's framing
            (:meth:`locate`; video: the previous frame's).

        Returns
        -------
        list of dict
            One per face, largest first: ``box`` ([x, y, width, height] in
            image pixels), ``label``, ``confidence``, ``probabilities``
            (class name to probability) and ``landmarks`` (68 [x, y] points
            in image pixels).
        """
        decoded = self.decode(image, color_order, grey=True)
        gray = to_gray(decoded.array)  # a DecodedImage passed in may be in colour
        if boxes is not None:  # given in the file's pixels
            boxes = [tuple(v / decoded.scale for v in b) for b in boxes]
            if landmarks is not None:
                if len(landmarks) != len(boxes):
                    raise ValueError(f"{len(landmarks)} sets of landmarks for {len(boxes)} boxes")
                # the inverse of _face's mapping
                landmarks = [(np.asarray(p, np.float64) + 0.5) / decoded.scale - 0.5 for p in landmarks]
        elif landmarks is not None:
            raise ValueError("landmarks are given with the boxes they belong to")
        elif self.crop_rule and not self.whole_image and max(gray.shape) <= VIDEO.small_side:
            faces = self._predict_face_crop(gray, decoded.scale)
            if faces is not None:
                return faces
            boxes = self._detect(gray)  # not a face crop: the usual search
        boxes, squares, crops = self.locate(gray, boxes, landmarks)
        probabilities, arrays = self.predict_crops(crops)
        return [self._face(box, square, p, lm, decoded.scale)
                for box, square, p, lm in zip(boxes, squares, probabilities, arrays.get("landmarks", []))]

    def _predict_face_crop(self, gray, scale):
        """:meth:`predict` of a small image that the face-crop rule takes whole, else None.

        The rule's look runs in another thread while this one computes the
        features of the image taken whole, so a face crop costs about the
        larger of the two instead of their sum; the result is what
        :meth:`locate` and :meth:`predict_crops` give.
        """
        look = _look_pool().submit(face_crop_box, gray)
        prepared = self._prepare(self.spec.crop_whole(gray))
        box = look.result()
        if box is None:
            return None
        probabilities, arrays = self._classify(prepared)
        x0, y0, side, _ = self._whole_box(gray)
        return [self._face(box, (float(x0), float(y0), float(side)), probabilities[0], arrays["landmarks"][0],
                           scale)]

    def predict_batch(self, sources, color_order="bgr"):
        """:meth:`predict` over several images, with one model call for all faces.

        Parameters
        ----------
        sources : sequence
            Paths, PIL images or arrays.

        Returns
        -------
        list
            Per source, the list of faces, or the :class:`ImageError` that
            made it unusable (:class:`ImageTooLarge` over ``max_pixels``).
        """
        results, crops, owners, faces = [], [], [], []
        for i, source in enumerate(sources):
            try:
                decoded = self.decode(source, color_order, grey=True)
            except ImageError as e:
                results.append(e)
                continue
            results.append([])
            boxes, squares, found = self.locate(to_gray(decoded.array))
            if len(found):
                crops.append(found)
                owners.extend([i] * len(boxes))
                faces.extend((box, square, decoded.scale) for box, square in zip(boxes, squares))
        if crops:
            probabilities, arrays = self.predict_crops(np.concatenate(crops))
            for i, (box, square, scale), p, lm in zip(owners, faces, probabilities, arrays["landmarks"]):
                results[i].append(self._face(box, square, p, lm, scale))
        return results

    def _face(self, box, square, probabilities, landmarks, scale=1.0):
        """One face's result; ``square`` is the crop's ``(x0, y0, side[, angle])`` in the
        decoded image, ``scale`` maps the decoded image's pixels to the file's."""
        points = square_points(landmarks, square, self.spec.image_size)  # from the crop to the image
        best = int(np.argmax(probabilities))
        return {
            "box": [int(round(v * scale)) for v in box],
            "label": self.classes[best],
            "confidence": float(probabilities[best]),
            "probabilities": {c: float(p) for c, p in zip(self.classes, probabilities)},
            "landmarks": np.round((points + 0.5) * scale - 0.5, 1).tolist(),
        }
