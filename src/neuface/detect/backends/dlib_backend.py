"""dlib backend: HOG (or CNN) face detector, iBUG 68-point shape predictor, 128-d ResNet identity vectors.

Works offline on any CPU: the weights ship in the `face-recognition-models` wheel. HOG finds frontal and
moderately turned faces of at least ~40 px (frames are upsampled up to ~1 kpx for this); the CNN
(`mmod`) detector is slower but finds more turned faces and is used as the "other backend" fallback.
"""

from __future__ import annotations

import numpy as np

from neuface.detect.backends import registry
from neuface.detect.backends.base import Backend, DetectedFace, DetectOptions
from neuface.detect.weights import dlib_model

IDENTITY_MODEL = "dlib_resnet_v1"
# HOG scores; -0.4 is DFL-like "find more, accept some false faces" for the redo retry.
REDO_THRESHOLD_OFFSET = -0.4
LICENCE = ("face-recognition-models: public domain / CC0 1.0; the 68-point predictor was trained on iBUG 300-W, "
           "whose licence excludes commercial use")

# Frames with a long side below this are upsampled 2x before HOG (its window is 80 px).
UPSAMPLE_BELOW = 1024
# Frames with a long side above this are downscaled before detection (speed; landmarks use full size).
DETECT_MAX_SIDE = 2048


def to_rgb(image: np.ndarray) -> np.ndarray:
    """BGR -> RGB copy; cv2 does a 1080p frame in ~0.4 ms, numpy's reversed-channel copy in ~10 ms."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2RGB)


def detection_scale(h: int, w: int) -> tuple[float, int]:
    """(resize factor, dlib upsample count) for a frame: small frames upsampled, huge ones shrunk."""
    long_side = max(h, w)
    if long_side > DETECT_MAX_SIDE:
        return DETECT_MAX_SIDE / long_side, 0
    if long_side < UPSAMPLE_BELOW:
        return 1.0, 1
    return 1.0, 0


class DlibIdentity:
    """dlib's 128-d ResNet face descriptor from 68 landmarks (also used by backends with other detectors)."""

    model = IDENTITY_MODEL

    def __init__(self):
        import dlib

        self._dlib = dlib
        self._net = None

    def shape(self, landmarks: np.ndarray):
        """dlib full_object_detection from (68, 2) frame-pixel points (rounded, as the predictor gives)."""
        lm = np.asarray(landmarks, dtype=np.float64)
        pts = [self._dlib.point(int(round(x)), int(round(y))) for x, y in lm]
        l, t = lm.min(0)
        r, b = lm.max(0)
        return self._dlib.full_object_detection(self._dlib.rectangle(int(l), int(t), int(r), int(b)), pts)

    def from_shape(self, rgb: np.ndarray, shape) -> np.ndarray:
        if self._net is None:
            self._net = self._dlib.face_recognition_model_v1(str(dlib_model("dlib.recognition")))
        return _normalise(np.array(self._net.compute_face_descriptor(rgb, shape), dtype=np.float32))

    def __call__(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Unit-length vector of the face with these 68 points in `rgb` (RGB uint8) pixels."""
        return self.from_shape(rgb, self.shape(landmarks))


class DlibBackend(Backend):
    """dlib HOG/CNN detector + 68-point predictor (+ 128-d recognition ResNet)."""

    name = "dlib"
    identity_model = IDENTITY_MODEL

    def __init__(self, options: DetectOptions | None = None, detector: str = "hog"):
        super().__init__(options)
        import dlib

        self._dlib = dlib
        self.detector_kind = detector
        if detector == "hog":
            self._detector = dlib.get_frontal_face_detector()
        elif detector == "cnn":
            self._detector = dlib.cnn_face_detection_model_v1(str(dlib_model("dlib.cnn_detector")))
        else:
            raise ValueError(f"unknown dlib detector {detector!r}")
        self._predictor = dlib.shape_predictor(str(dlib_model("dlib.landmarks68")))
        self.identity = DlibIdentity()

    def detect_boxes(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Boxes (l, t, r, b) in frame pixels with scores, before landmarks."""
        import cv2

        h, w = rgb.shape[:2]
        factor, upsample = detection_scale(h, w)
        small = rgb if factor == 1.0 else cv2.resize(rgb, (round(w * factor), round(h * factor)),
                                                     interpolation=cv2.INTER_AREA)
        out: list[tuple[np.ndarray, float]] = []
        if self.detector_kind == "hog":
            rects, scores, _ = self._detector.run(small, upsample, self.options.threshold_offset)
            pairs = list(zip(rects, scores, strict=True))
        else:
            found = self._detector(small, upsample)
            pairs = [(d.rect, d.confidence) for d in found if d.confidence >= self.options.threshold_offset]
        for rect, score in pairs:
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float64) / factor
            out.append((box, float(score)))
        return out

    def landmarks(self, rgb: np.ndarray, box: np.ndarray):
        """dlib full_object_detection (68 parts) for a frame-space box."""
        rect = self._dlib.rectangle(*(int(round(v)) for v in box))
        return self._predictor(rgb, rect)

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        rgb = to_rgb(image)
        faces: list[DetectedFace] = []
        for box, score in self.detect_boxes(rgb):
            shape = self.landmarks(rgb, box)
            lm = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            emb = None
            if self.options.with_embeddings:
                emb = self.identity.from_shape(rgb, shape)
            faces.append(DetectedFace(rect=box, score=score, landmarks=lm, embedding=emb))
        return faces

    def embed(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Identity vector of the face with these 68 landmarks (pixel space of `image`, BGR)."""
        return self.identity(to_rgb(image), landmarks)


def _normalise(vec: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(vec))
    return (vec / n).astype(np.float32) if n > 0 else vec.astype(np.float32)


registry.register(registry.BackendSpec(
    name="dlib", summary="HOG, frontal faces, CPU",
    factory=lambda a: DlibBackend(a.options), available=registry.always, unavailable_hint="",
    runs_on_gpu=registry.never_gpu, licence=LICENCE, identity_model=IDENTITY_MODEL,
    redo_threshold_offset=REDO_THRESHOLD_OFFSET, redo_fallbacks=("insightface", "retinaface", "dlib-cnn"),
    auto_rank=2))
# The CNN (mmod) detector: slow on a CPU but finds more turned faces; a redo fallback, not a choice.
registry.register(registry.BackendSpec(
    name="dlib-cnn", summary="dlib CNN (mmod)", factory=lambda a: DlibBackend(a.options, detector="cnn"),
    available=registry.always, unavailable_hint="", runs_on_gpu=registry.never_gpu, licence=LICENCE,
    identity_model=IDENTITY_MODEL, redo_threshold_offset=0.0, listed=False))
