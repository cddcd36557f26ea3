"""Video: faces detected every few frames and followed by their landmarks in
between, a camera reader that drops frames instead of queueing them, and the
stream of a video file, a camera or frames (:meth:`Recognizer.stream`)."""

import os
import threading
import time

import numpy as np

from ..features.landmarks import centre_and_spread
from ..parameters import VIDEO


class VideoError(Exception):
    """No camera, no display, an unreadable video (one line)."""


class FaceTracker:
    """Recognise the faces of consecutive video frames, detecting them every ``detect_every`` frames.

    On a detection frame each face's box is recorded relative to its
    landmarks (their centre and spread). On the frames in between, each face
    is cropped where the previous frame's landmarks put it: the landmark
    predictor, run on that crop, finds the face where it has moved to, and
    those landmarks give the next frame's box. A face whose landmarks'
    spread jumps by more than ``max_change`` (a lost fit), or that leaves the
    frame, ends the following: the next frame is a detection frame.

    With ``reframe``, the crop of a followed face is the square that frames it
    as FER-2013 does around the previous frame's landmarks
    (:meth:`features.spec.FeatureSpec.crop_framed` with those landmarks): the
    re-framing of photos without a landmark fit of its own, since those landmarks are known already.
    The box given for the face stays the one in the relation recorded at detection.

    Parameters
    ----------
    recognizer : models.recognizer.Recognizer
    detect_every : int, optional
        1: detect on every frame (no following).
    max_change : float, optional
    reframe : bool, optional
        ``VIDEO.track_reframe``; False: a followed face is cropped around its box.

    Attributes
    ----------
    detections : int
        Frames on which faces were detected.
    """

    def __init__(self, recognizer, detect_every=VIDEO.detect_every, max_change=VIDEO.track_max_change,
                 reframe=VIDEO.track_reframe):
        if detect_every < 1:
            raise ValueError(f"detect_every must be 1 or more, got {detect_every}")
        self.recognizer = recognizer
        self.detect_every, self.max_change, self.reframe = detect_every, max_change, reframe
        self.tracks = []  # per face: (box relative to its landmarks, landmarks, spread)
        self.since_detection = None
        self.detections = 0

    def predict(self, frame, color_order="bgr"):
        """The faces of the next frame, as :meth:`Recognizer.predict` gives them."""
        decoded = self.recognizer.decode(frame, color_order, grey=True)
        h, w = decoded.array.shape[:2]
        due = self.since_detection is None or self.since_detection + 1 >= self.detect_every
        boxes = landmarks = None
        if not due:
            boxes = [self._box(rel, points) for rel, points, _ in self.tracks]
            landmarks = [points for _, points, _ in self.tracks] if self.reframe else None
        faces = self.recognizer.predict(decoded, boxes=boxes, landmarks=landmarks)
        if due:
            self.detections += 1
            self.since_detection = 0
            self.tracks = []
            for face in faces:
                centre, spread = centre_and_spread(face["landmarks"])
                x, y, bw, bh = face["box"]
                rel = ((x - centre[0]) / spread, (y - centre[1]) / spread, bw / spread, bh / spread)
                self.tracks.append((rel, face["landmarks"], spread))
            return faces
        self.since_detection += 1
        kept = []
        for (rel, _, spread), face in zip(self.tracks, faces):
            centre, new_spread = centre_and_spread(face["landmarks"])
            ratio = new_spread / spread if spread else np.inf
            inside = 0 <= centre[0] < w * decoded.scale and 0 <= centre[1] < h * decoded.scale
            if not (1 / self.max_change <= ratio <= self.max_change) or not inside:
                self.since_detection = None  # the fit is lost: detect on the next frame
            kept.append((rel, face["landmarks"], new_spread))
        self.tracks = kept
        return faces

    @staticmethod
    def _box(rel, landmarks):
        """A face box ``(x, y, w, h)`` from landmarks, in the relation recorded at detection."""
        centre, spread = centre_and_spread(landmarks)
        rx, ry, rw, rh = rel
        return (centre[0] + rx * spread, centre[1] + ry * spread, rw * spread, rh * spread)


class LatestFrames:
    """Read a live source in a thread of its own and keep only its newest frame.

    A loop that takes frames from :meth:`read` never falls behind a camera:
    frames that arrive while it works are dropped (and counted), not queued.

    Parameters
    ----------
    capture : cv2.VideoCapture or any object with ``read()`` and ``release()``
    """

    def __init__(self, capture):
        self.capture = capture
        self.dropped = 0
        self._frame = None
        self._ended = False
        self._new = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._ended:
            ok, frame = self.capture.read()
            with self._new:
                if not ok or frame is None:
                    self._ended = True
                else:
                    if self._frame is not None:
                        self.dropped += 1
                    self._frame = frame
                self._new.notify_all()

    def read(self, timeout=5.0):
        """The newest frame not read yet, waiting for one if needed.

        Returns
        -------
        (bool, ndarray or None)
            As ``cv2.VideoCapture.read``: ``(False, None)`` once the source ends
            (or sends nothing for ``timeout`` seconds).
        """
        deadline = time.monotonic() + timeout
        with self._new:
            while self._frame is None and not self._ended:
                left = deadline - time.monotonic()
                if left <= 0 or not self._new.wait(left):
                    return False, None
            frame, self._frame = self._frame, None
        return (frame is not None), frame

    def release(self):
        """Stop reading and release the source."""
        self._ended = True
        self._thread.join(timeout=2.0)
        self.capture.release()


def open_source(source):
    """A reader of a stream's frames.

    Parameters
    ----------
    source : int, str, os.PathLike or iterable of ndarray
        A camera index, a video file, or frames (arrays as OpenCV reads them).

    Returns
    -------
    read : callable
        ``read()`` gives ``(ok, frame)``, as ``cv2.VideoCapture.read``.
    release : callable
    fps : float or None
        The video file's frame rate (None for a camera or frames).
    live : bool
        A camera: the newest frame is always read, and frames that arrive
        meanwhile are dropped (:class:`LatestFrames`).

    Raises
    ------
    VideoError
        No such file, an unreadable video, no camera at that index (one line).
    """
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        return _open_camera(int(source))
    if isinstance(source, (str, os.PathLike)):
        return _open_file(os.fspath(source))
    frames = iter(source)

    def read():
        frame = next(frames, None)
        return frame is not None, frame

    return read, lambda: None, None, False


def _quiet_opencv():
    """Silence OpenCV's own log lines, which would add lines to our one-line errors."""
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:
        pass


def _open_file(path):
    import cv2

    from ..features.util import quiet_stderr

    if not os.path.exists(path):
        raise VideoError(f"{path}: no such file")
    if os.path.isdir(path):
        raise VideoError(f"{path}: is a folder, not a video file")
    _quiet_opencv()
    with quiet_stderr():  # FFmpeg reports broken files on standard error itself
        capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise VideoError(f"{path}: cannot read this video")
    return capture.read, capture.release, capture.get(cv2.CAP_PROP_FPS) or 30.0, False


def _open_camera(index):
    import cv2

    from ..features.util import quiet_stderr

    if index < 0:  # OpenCV may crash the process on a negative index
        raise VideoError(f"camera {index}: a camera index is 0 or more")
    _quiet_opencv()
    with quiet_stderr():
        capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise VideoError(f"no camera at index {index}: plug one in, pick another camera, or read a video file")
    reader = LatestFrames(capture)
    return reader.read, reader.release, None, True


class FaceStream:
    """The faces of each frame of a video, a camera or a sequence of frames
    (what :meth:`models.recognizer.Recognizer.stream` returns).

    Iterating gives, per frame, the faces as :meth:`Recognizer.predict` gives
    them (``(frame, faces)`` with ``with_frames``), following faces between
    detections (:class:`FaceTracker`). The source is released at its end, on
    :meth:`close` and on leaving a ``with`` block.

    Parameters
    ----------
    recognizer : models.recognizer.Recognizer
        With the detection settings to use on the frames.
    source : int, str, os.PathLike or iterable of ndarray
        See :func:`open_source`.
    detect_every, max_change, track_reframe
        :class:`FaceTracker`'s (``reframe`` for the last).
    time_between_predictions : float
        Seconds (of the video's time, or of the clock for a camera and for
        frames) between two predictions; frames in between repeat the last
        faces (0: every frame).
    color_order : {"bgr", "rgb"}
        Of the frames (OpenCV reads BGR).
    with_frames : bool
        Give ``(frame, faces)`` pairs.

    Attributes
    ----------
    frames : int
        Frames read so far.
    predictions : int
        Frames whose faces were predicted (the others repeated the last).
    predicted : bool
        Whether the last frame's faces were predicted.
    time : float
        The last frame's time in seconds.
    fps : float or None
        A video file's frame rate.
    """

    def __init__(self, recognizer, source, detect_every=VIDEO.detect_every, max_change=VIDEO.track_max_change,
                 time_between_predictions=VIDEO.time_between_predictions, color_order="bgr", with_frames=False,
                 track_reframe=VIDEO.track_reframe):
        self.tracker = FaceTracker(recognizer, detect_every, max_change, track_reframe)
        self._read, self._release, self.fps, self.live = open_source(source)
        self.time_between_predictions, self.color_order = time_between_predictions, color_order
        self.with_frames = with_frames
        self.frames = self.predictions = 0
        self.predicted, self.time = False, 0.0
        self._faces, self._last = [], -float("inf")
        self._started = time.perf_counter()
        self._closed = False

    @property
    def detections(self):
        """Frames on which faces were detected (the others followed them)."""
        return self.tracker.detections

    @property
    def dropped(self):
        """Camera frames dropped to keep up with the camera (0 for files and frames)."""
        return getattr(getattr(self._read, "__self__", None), "dropped", 0)

    def __iter__(self):
        return self

    def __next__(self):
        if self._closed:
            raise StopIteration
        ok, frame = self._read()
        if not ok or frame is None:
            self.close()
            raise StopIteration
        self.time = self.frames / self.fps if self.fps else time.perf_counter() - self._started
        self.predicted = self.time - self._last >= self.time_between_predictions
        if self.predicted:
            self._faces = self.tracker.predict(frame, self.color_order)
            self._last = self.time
            self.predictions += 1
        self.frames += 1
        return (frame, self._faces) if self.with_frames else self._faces

    def close(self):
        """Release the source (a second call does nothing)."""
        if not self._closed:
            self._closed = True
            self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
