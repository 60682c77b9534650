"""DFL's rotation retries (dfl-formats.md §4.2): a frame with no face is tried again rotated 90°, 270°, 180°.

Footage shot sideways or upside down (phone video without rotation metadata, a lying-down subject) has
faces no upright detector finds. As DFL does, detection and landmarks run on the rotated frame and the
results are mapped back to the frame as stored, so `source_landmarks` and `image_to_face_mat` refer to the
unrotated frame. Like DFL's, a mapped `source_rect` keeps its corner order and can have l > r or t > b.

Coordinates are OpenCV pixel coordinates (pixel i is centred on i), so flipping an axis of length n maps
x to n - 1 - x and the mapping is the exact inverse of the array rotation.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from neuface.detect.backends.base import DetectedFace

# DFL's order: upright first, then 90° clockwise, 90° counter-clockwise, upside down.
ROTATIONS = (0, 90, 270, 180)
_CV2_CODES = {90: cv2.ROTATE_90_CLOCKWISE, 270: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180}


def rotate_frame(frame: np.ndarray, degrees: int) -> np.ndarray:
    """The frame rotated clockwise by `degrees` (DFL: 90 = transpose + horizontal flip, 270 = transpose +
    vertical flip, 180 = both flips)."""
    if degrees == 0:
        return frame
    return cv2.rotate(frame, _CV2_CODES[degrees])


def unrotate_points(points: np.ndarray, degrees: int, shape: tuple[int, ...]) -> np.ndarray:
    """(N, 2) x, y points of the rotated frame -> the same points in the unrotated frame of `shape` (h, w)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    h, w = shape[:2]
    x, y = pts[:, 0], pts[:, 1]
    if degrees == 0:
        return pts.copy()
    if degrees == 90:
        return np.stack([y, h - 1 - x], axis=1)
    if degrees == 270:
        return np.stack([w - 1 - y, x], axis=1)
    if degrees == 180:
        return np.stack([w - 1 - x, h - 1 - y], axis=1)
    raise ValueError(f"rotation must be one of {ROTATIONS}, not {degrees}")


def unrotate_face(face: DetectedFace, degrees: int, shape: tuple[int, ...]) -> DetectedFace:
    """A face found on the rotated frame, in unrotated-frame coordinates (the embedding is unchanged)."""
    if degrees == 0:
        return face
    corners = unrotate_points(np.asarray(face.rect, dtype=np.float64).reshape(2, 2), degrees, shape)
    landmarks = None if face.landmarks is None else unrotate_points(face.landmarks, degrees, shape)
    return dataclasses.replace(face, rect=corners.reshape(4), landmarks=landmarks,
                               extra={**face.extra, "rotation": degrees})
