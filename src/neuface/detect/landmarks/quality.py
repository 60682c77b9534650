"""How good 68 landmarks are: against annotations, through DFL's alignment, and under mirroring.

Plain functions of point arrays so benchmarks (landmark_bench.py, detect_quality.py) and tests share them.
All errors are normalised by the outer-eye-corner distance (points 36 and 45), the usual iBUG
"inter-ocular" normalisation, so they compare across face sizes.
"""

from __future__ import annotations

import numpy as np

from neuface.dfl.align import get_transform_mat, transform_points
from neuface.dfl.landmarks import mirror_landmarks

OUTER_EYE_CORNERS = (36, 45)


def eye_corner_distance(points: np.ndarray) -> float:
    p = np.asarray(points, dtype=np.float64)
    return float(np.hypot(*(p[OUTER_EYE_CORNERS[1]] - p[OUTER_EYE_CORNERS[0]])))


def point_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean point-to-point distance over the 68 points / the truth's outer-eye-corner distance."""
    p, t = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    return float(np.linalg.norm(p - t, axis=1).mean() / eye_corner_distance(t))


def alignment_difference(pred: np.ndarray, truth: np.ndarray, face_type: str = "whole_face", size: int = 256,
                         grid: int = 9) -> float:
    """Largest displacement, as a fraction of the aligned width, between the DFL aligned face made from
    `truth` and the one made from `pred`: a grid of points over the truth's crop is mapped to the frame and
    into the predicted crop. 0.02 = the crops differ by at most 2 % of their side anywhere."""
    m_true = get_transform_mat(np.asarray(truth, np.float64), size, face_type)
    m_pred = get_transform_mat(np.asarray(pred, np.float64), size, face_type)
    ticks = np.linspace(0, size, grid)
    pts = np.array([(x, y) for y in ticks for x in ticks], np.float64)
    frame = transform_points(pts, m_true, invert=True)
    moved = transform_points(frame, m_pred)
    return float(np.linalg.norm(moved - pts, axis=1).max() / size)


def flip_disagreement(points: np.ndarray, mirrored_points: np.ndarray, width: int) -> float:
    """Mean distance between a face's points and the points found on the mirrored frame mapped back
    (indices swapped by the iBUG flip permutation), / the outer-eye-corner distance. No labels needed:
    a landmarker that is right must agree with itself on the mirror image."""
    back = mirror_landmarks(mirrored_points, width)
    return point_error(back, points)


def nearest_face(boxes: list[np.ndarray], points: np.ndarray) -> int | None:
    """Index of the box whose centre is nearest the points' centroid, if that centroid lies inside it."""
    c = np.asarray(points, np.float64).mean(0)
    best, best_d = None, np.inf
    for i, b in enumerate(boxes):
        if b[0] <= c[0] <= b[2] and b[1] <= c[1] <= b[3]:
            d = float(np.hypot(c[0] - (b[0] + b[2]) / 2, c[1] - (b[1] + b[3]) / 2))
            if d < best_d:
                best, best_d = i, d
    return best
