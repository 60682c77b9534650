"""The interface every 68-point landmarker implements (no heavy imports: the CLI reads the choices)."""

from __future__ import annotations

import abc

import numpy as np


class Landmarker(abc.ABC):
    """68 iBUG points of a face from its detector box (and five points when the detector gives them)."""

    name: str = "base"

    @abc.abstractmethod
    def landmarks(self, rgb: np.ndarray, rect: np.ndarray, kps5: np.ndarray | None) -> np.ndarray:
        """(68, 2) float64 points in frame pixels of the RGB uint8 frame; `rect` = (l, t, r, b) float,
        `kps5` = (5, 2) eyes, nose tip, mouth corners (image-left first), or None."""
