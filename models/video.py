"""Video: faces detected every few frames and followed by their landmarks in
between, and a camera reader that drops frames instead of queueing them."""

import threading
import time

import numpy as np

from ..parameters import VIDEO


def _centre_and_spread(landmarks):
    """Centre of a face's landmarks and their spread (root mean square distance from it)."""
    points = np.asarray(landmarks, dtype=np.float64)
    centre = points.mean(axis=0)
    return centre, float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))


class FaceTracker:
    """Recognise the faces of consecutive video frames, detecting them every ``detect_every`` frames.

    On a detection frame each face's box is recorded relative to its
    landmarks (their centre and spread). On the frames in between, each face
    is cropped where the previous frame's landmarks put it: the landmark
    predictor, run on that crop, finds the face where it has moved to, and
    those landmarks give the next frame's box. A face whose landmarks'
    spread jumps by more than ``max_change`` (a lost fit), or that leaves the
    frame, ends the following: the next frame is a detection frame.

    Parameters
    ----------
    recognizer : models.recognizer.Recognizer
    detect_every : int, optional
        1: detect on every frame (no following).
    max_change : float, optional

    Attributes
    ----------
    detections : int
        Frames on which faces were detected.
    """

    def __init__(self, recognizer, detect_every=VIDEO.detect_every, max_change=VIDEO.track_max_change):
        if detect_every < 1:
            raise ValueError(f"detect_every must be 1 or more, got {detect_every}")
        self.recognizer = recognizer
        self.detect_every, self.max_change = detect_every, max_change
        self.tracks = []  # per face: (box relative to its landmarks, landmarks, spread)
        self.since_detection = None
        self.detections = 0

    def predict(self, frame, color_order="bgr"):
        """The faces of the next frame, as :meth:`Recognizer.predict` gives them."""
        decoded = self.recognizer.decode(frame, color_order, grey=True)
        h, w = decoded.array.shape[:2]
        due = self.since_detection is None or self.since_detection + 1 >= self.detect_every
        if due:
            boxes = None
        else:
            boxes = [self._box(rel, landmarks) for rel, landmarks, _ in self.tracks]
        faces = self.recognizer.predict(decoded, boxes=boxes)
        if due:
            self.detections += 1
            self.since_detection = 0
            self.tracks = []
            for face in faces:
                centre, spread = _centre_and_spread(face["landmarks"])
                x, y, bw, bh = face["box"]
                rel = ((x - centre[0]) / spread, (y - centre[1]) / spread, bw / spread, bh / spread)
                self.tracks.append((rel, face["landmarks"], spread))
            return faces
        self.since_detection += 1
        kept = []
        for (rel, _, spread), face in zip(self.tracks, faces):
            centre, new_spread = _centre_and_spread(face["landmarks"])
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
        centre, spread = _centre_and_spread(landmarks)
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
