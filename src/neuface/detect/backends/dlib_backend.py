"""dlib backend: HOG (or CNN) face detector, iBUG 68-point shape predictor, 128-d ResNet identity vectors.

Works offline on any CPU: the weights ship in the `face-recognition-models` wheel. HOG finds frontal and
moderately turned faces of at least ~40 px (frames are upsampled up to ~1 kpx for this); the CNN
(`mmod`) detector is slower but finds more turned faces and is used as the "other backend" fallback.
"""

from __future__ import annotations

import numpy as np

from neuface.detect.backends.base import Backend, DetectedFace, DetectOptions
from neuface.detect.weights import dlib_model

# Frames with a long side below this are upsampled 2x before HOG (its window is 80 px).
UPSAMPLE_BELOW = 1024
# Frames with a long side above this are downscaled before detection (speed; landmarks use full size).
DETECT_MAX_SIDE = 2048


def _to_rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[..., ::-1])


def detection_scale(h: int, w: int) -> tuple[float, int]:
    """(resize factor, dlib upsample count) for a frame: small frames upsampled, huge ones shrunk."""
    long_side = max(h, w)
    if long_side > DETECT_MAX_SIDE:
        return DETECT_MAX_SIDE / long_side, 0
    if long_side < UPSAMPLE_BELOW:
        return 1.0, 1
    return 1.0, 0


class DlibBackend(Backend):
    """dlib HOG/CNN detector + 68-point predictor (+ 128-d recognition ResNet)."""

    name = "dlib"
    identity_model = "dlib_resnet_v1"

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
        self._recognizer = None

    @property
    def recognizer(self):
        if self._recognizer is None:
            self._recognizer = self._dlib.face_recognition_model_v1(str(dlib_model("dlib.recognition")))
        return self._recognizer

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
        rgb = _to_rgb(image)
        faces: list[DetectedFace] = []
        for box, score in self.detect_boxes(rgb):
            shape = self.landmarks(rgb, box)
            lm = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            emb = None
            if self.options.with_embeddings:
                emb = _normalise(np.array(self.recognizer.compute_face_descriptor(rgb, shape), dtype=np.float32))
            faces.append(DetectedFace(rect=box, score=score, landmarks=lm, embedding=emb))
        return faces

    def embed(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Identity vector of the face with these 68 landmarks (pixel space of `image`, BGR)."""
        rgb = _to_rgb(image)
        lm = np.asarray(landmarks, dtype=np.float64)
        pts = [self._dlib.point(int(round(x)), int(round(y))) for x, y in lm]
        l, t = lm.min(0)
        r, b = lm.max(0)
        rect = self._dlib.rectangle(int(l), int(t), int(r), int(b))
        shape = self._dlib.full_object_detection(rect, pts)
        return _normalise(np.array(self.recognizer.compute_face_descriptor(rgb, shape), dtype=np.float32))


def _normalise(vec: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(vec))
    return (vec / n).astype(np.float32) if n > 0 else vec.astype(np.float32)
