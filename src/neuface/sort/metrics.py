"""Per-face metrics, one function per sort method (dfl-formats.md §5.2), run in worker processes.

Each takes a `Face` and returns a small picklable value: a score, a histogram, or None for a file DFL
would trash because it has no DFL metadata. Preprocessing is DFL's: hull-masked where DFL masks, the
whole image where it does not, and the same OpenCV calls, so scores equal DFL's.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from neuface.sort.cpbd import estimate_sharpness
from neuface.sort.faces import Face


def blur(face: Face) -> float:
    """CPBD sharpness of the hull-masked face; 0 for non-DFL files (DFL trashes score 0)."""
    return estimate_sharpness(face.hull_masked()) if face.is_dfl else 0.0


def motion_blur(face: Face) -> float:
    """Variance of the 11-tap Laplacian over the hull-masked BGR face; 0 for non-DFL files."""
    if not face.is_dfl:
        return 0.0
    return float(cv2.Laplacian(face.hull_masked(), cv2.CV_64F, ksize=11).var())


def pose(face: Face) -> tuple[float, float] | None:
    """(pitch, yaw) from the aligned landmarks, with the image width as the camera size."""
    if not face.is_dfl:
        return None
    from neuface.dfl.landmarks import estimate_pitch_yaw_roll

    pitch, yaw, _ = estimate_pitch_yaw_roll(face.landmarks, size=face.image.shape[1])
    return float(pitch), float(yaw)


def face_yaw(face: Face) -> float | None:
    p = pose(face)
    return None if p is None else p[1]


def face_pitch(face: Face) -> float | None:
    p = pose(face)
    return None if p is None else p[0]


def rect_area(source_rect: Any) -> float:
    """Shoelace area of (l,t),(r,t),(r,b),(l,b) in float32, DFL's `polygon_area` on `source_rect`."""
    rect = np.asarray(source_rect, dtype=np.float64).reshape(-1)
    x = rect[[0, 2, 2, 0]].astype(np.float32)
    y = rect[[1, 1, 3, 3]].astype(np.float32)
    return float(0.5 * np.abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def source_rect_size(face: Face) -> float | None:
    meta = face.meta
    if meta is None or meta.source_rect is None:
        return None
    return rect_area(meta.source_rect)


def bgr_hists(face: Face) -> np.ndarray:
    """Three 256-bin histograms (B, G, R) of the unmasked image, float32 (3, 256)."""
    img = face.image
    return np.stack([cv2.calcHist([img], [c], None, [256], [0, 256]).reshape(-1) for c in range(3)])


def grey_hist(image: np.ndarray) -> np.ndarray:
    """256-bin histogram of a grey uint8 image, float32 (256,)."""
    return cv2.calcHist([image], [0], None, [256], [0, 256]).reshape(-1)


def hist_dissim_hist(face: Face) -> np.ndarray:
    """Grey histogram of the hull-masked face (the whole image for non-DFL files)."""
    img = face.hull_masked() if face.is_dfl else face.image
    return grey_hist(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))


def _hsv_mean(face: Face, channel: int) -> float:
    return float(np.mean(cv2.cvtColor(face.image, cv2.COLOR_BGR2HSV)[..., channel].flatten()))


def brightness(face: Face) -> float:
    """Mean HSV value (V, 0-255) over the whole image."""
    return _hsv_mean(face, 2)


def hue(face: Face) -> float:
    """Mean HSV hue (OpenCV's 0-179 scale) over the whole image."""
    return _hsv_mean(face, 0)


def black(face: Face) -> float:
    """Number of zero-valued channel elements (not pixels), as DFL counts them."""
    img = face.image
    return float(img[img == 0].size)


def origname(face: Face) -> str | None:
    """The frame file the face was cut from (`source_filename`)."""
    meta = face.meta
    if meta is None or not meta.source_filename:
        return None
    return str(meta.source_filename)


def best_faces(face: Face, fast: bool) -> tuple[float, float, float, np.ndarray] | None:
    """(sharpness, yaw, pitch, grey histogram) for best-face selection; `fast` uses the source rect area."""
    meta = face.meta
    if meta is None:
        return None
    from neuface.dfl.landmarks import estimate_pitch_yaw_roll

    img = face.image
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if fast:
        sharpness = rect_area(meta.source_rect) if meta.source_rect is not None else 0.0
    else:
        sharpness = estimate_sharpness(face.hull_masked())
    pitch, yaw, _ = estimate_pitch_yaw_roll(face.landmarks, size=img.shape[1])
    return float(sharpness), float(yaw), float(pitch), grey_hist(grey)


def final(face: Face) -> tuple[float, float, float, np.ndarray] | None:
    return best_faces(face, fast=False)


def final_fast(face: Face) -> tuple[float, float, float, np.ndarray] | None:
    return best_faces(face, fast=True)


def identity(face: Face) -> np.ndarray | None:
    """The face's identity embedding: stored by `detect`, computed now when missing; None if impossible."""
    from neuface.sort.identity import face_embedding

    return face_embedding(face)
