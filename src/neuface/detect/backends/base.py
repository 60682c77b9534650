"""The one small interface every detection backend implements.

A backend turns a BGR uint8 frame into faces: a box, 68 iBUG landmarks in frame pixels and, when the
backend has a recognition model, an identity embedding. Everything after that (alignment, crops,
metadata) is backend-independent and lives in `neuface.detect.pipeline`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np


@dataclass
class DetectedFace:
    """One face in frame space.

    rect: (left, top, right, bottom) detector box in frame pixels (float).
    score: detector confidence (backend-specific scale: compare only within a backend).
    landmarks: (68, 2) float64 iBUG-68 points in frame pixels, or None when the landmark step failed.
    embedding: float32 identity vector (L2-normalised), or None.
    """

    rect: np.ndarray
    score: float
    landmarks: np.ndarray | None = None
    embedding: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def area(self) -> float:
        l, t, r, b = (float(v) for v in self.rect)
        return abs(r - l) * abs(b - t)

    @property
    def size(self) -> float:
        """The box's shorter side, for `--min-face-size`."""
        l, t, r, b = (float(v) for v in self.rect)
        return min(abs(r - l), abs(b - t))


@dataclass(frozen=True)
class DetectOptions:
    """Knobs shared by all backends.

    threshold_offset: added to the backend's default score threshold; negative finds more (and more
    false) faces. `--redo-deleted-debug` retries with a negative offset.
    with_embeddings: compute identity embeddings (costs a recognition-model pass per face).
    """

    threshold_offset: float = 0.0
    with_embeddings: bool = True


class Backend(abc.ABC):
    """Detector + 68-point landmarker (+ optional recognition model)."""

    #: short name shown to the user and stored nowhere else
    name: str = "base"
    #: name of the identity model whose vectors `embedding` holds (stored beside the vector), or None
    identity_model: str | None = None

    def __init__(self, options: DetectOptions | None = None):
        self.options = options or DetectOptions()

    @abc.abstractmethod
    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """Faces in a BGR uint8 (H, W, 3) frame with landmarks (and embeddings when enabled)."""

    def detect_batch(self, images: list[np.ndarray]) -> list[list[DetectedFace]]:
        """Faces for several frames; GPU backends override this to batch inference."""
        return [self.detect(img) for img in images]

    @property
    def prefers_batches(self) -> bool:
        """True when the backend runs on an accelerator and wants one process feeding it batches."""
        return False
