"""dlib's 68-point shape predictor behind `Landmarker`, with the box conventions it was trained on.

`DlibBoxLandmarker` ("dlib-box") is the plain predictor on the detector's box: right for dlib HOG boxes,
poor on other detectors' boxes. `DlibFivePointLandmarker` feeds the predictor the box dlib's HOG detector
would have drawn (`boxmap`), predicted from the detector's five points, and optionally:

- roll-normalises: the predictor sees a crop rotated so the eyes are level (its training faces were
  mostly upright; tilted heads are a known failure), points are rotated back;
- averages with the prediction on the mirrored crop (68 indices swapped by the iBUG flip permutation),
  which halves the predictor's left/right bias and makes the result flip-consistent;
- re-boxes: a second pass on the HOG-convention box of its own first 68 points.

Which combination is the default was decided by measurement (README "Landmarks", landmark_bench.py).
"""

from __future__ import annotations

import math
from functools import cache

import cv2
import numpy as np

from neuface.detect.landmarks.base import Landmarker
from neuface.detect.landmarks.boxmap import LANDMARKS68_MAP, RETINAFACE_MAP, BoxMap, five_from_68, hog_box
from neuface.dfl.landmarks import MIRROR_IDXS

# The crop around the face, in box sides: wide enough for the predictor's pixel lookups (it samples
# around the mean shape, which sits inside the box, and its cascade moves points at most ~30 % out).
CROP_SIDES = 2.0
# A five-point box smaller than this (pixels) means the points are degenerate, not that the face is small
# (RetinaFace finds nothing under ~16 px).
MIN_SIDE = 4.0


@cache
def _predictor():
    import dlib

    from neuface.detect.weights import dlib_model

    return dlib.shape_predictor(str(dlib_model("dlib.landmarks68")))


def predict(rgb: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """dlib's predictor on an axis-aligned box (l, t, r, b), rounded to whole pixels as dlib needs."""
    import dlib

    box = dlib.rectangle(*(int(round(float(v))) for v in rect[:4]))
    return np.array([(p.x, p.y) for p in _predictor()(rgb, box).parts()], dtype=np.float64)


def predict_upright(rgb: np.ndarray, centre: np.ndarray, side: float, roll: float, mirror: bool,
                    norm_side: float | None = None, scales: tuple[float, ...] = (1.0,)) -> np.ndarray:
    """The predictor on a square box of `side` at `centre`, in a crop rotated by -`roll` (eyes level),
    points mapped back to the frame; with `mirror`, averaged with the mirrored crop's prediction.

    norm_side: resample the crop so the box is this many pixels (None: keep the frame's scale).
    scales: box sides (times `side`) to predict with and average: a small test-time ensemble.
    """
    zoom = 1.0 if norm_side is None else norm_side / side
    crop = max(8, int(math.ceil(side * zoom * CROP_SIDES)))
    half = (crop - 1) / 2
    c, s = math.cos(roll) * zoom, math.sin(roll) * zoom
    # frame -> crop: rotate by -roll about `centre` (and zoom), then move `centre` to the crop's centre.
    rot = np.array([[c, s], [-s, c]])
    mat = np.hstack([rot, (np.array([half, half]) - rot @ centre)[:, None]])
    img = cv2.warpAffine(rgb, mat, (crop, crop), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mirrored = np.ascontiguousarray(img[:, ::-1]) if mirror else None
    runs = []
    for k in scales:
        # A box symmetric in the crop (l + r = crop - 1), so the mirrored crop has the same box.
        left = int(round(half - side * zoom * k / 2))
        box = np.array([left, left, crop - 1 - left, crop - 1 - left], np.float64)
        runs.append(predict(img, box))
        if mirrored is not None:
            flipped = predict(mirrored, box)[MIRROR_IDXS]
            flipped[:, 0] = crop - 1 - flipped[:, 0]
            runs.append(flipped)
    pts = np.mean(runs, axis=0)
    return np.linalg.solve(rot, (pts - mat[:, 2]).T).T


class DlibBoxLandmarker(Landmarker):
    """The predictor on the detector's box as given (right for dlib HOG boxes; today's behaviour)."""

    name = "dlib-box"

    def landmarks(self, rgb: np.ndarray, rect: np.ndarray, kps5: np.ndarray | None) -> np.ndarray:
        return predict(rgb, rect)


class DlibFivePointLandmarker(Landmarker):
    """The predictor on the HOG-convention box predicted from five points, with the refinements above.

    Without five points (a dlib HOG box), the first pass is the plain predictor on `rect` and the
    refinements start from its 68 points.
    """

    def __init__(self, name: str, roll: bool, mirror: bool, rebox: int, first_map: BoxMap = RETINAFACE_MAP,
                 norm_side: float | None = None, scales: tuple[float, ...] = (1.0,)):
        self.name = name
        self.roll = roll
        self.mirror = mirror
        self.rebox = rebox
        self.first_map = first_map
        self.norm_side = norm_side
        self.scales = scales

    def _pass(self, rgb: np.ndarray, kps5: np.ndarray, coef: BoxMap) -> np.ndarray:
        centre, side, roll = hog_box(kps5, coef)
        if self.roll or self.mirror or self.norm_side or self.scales != (1.0,):
            return predict_upright(rgb, centre, side, roll if self.roll else 0.0, self.mirror, self.norm_side,
                                   self.scales)
        return predict(rgb, np.r_[centre - side / 2, centre + side / 2])

    def landmarks(self, rgb: np.ndarray, rect: np.ndarray, kps5: np.ndarray | None) -> np.ndarray:
        if kps5 is not None and not hog_box(kps5, self.first_map)[1] >= MIN_SIDE:
            kps5 = None  # degenerate five points (coincident, or a NaN): start from the detector's box
        if kps5 is None:
            pts = predict(rgb, rect)
            passes = max(1, self.rebox) if (self.roll or self.mirror) else self.rebox
        else:
            pts = self._pass(rgb, kps5, self.first_map)
            passes = self.rebox
        for _ in range(passes):
            pts = self._pass(rgb, five_from_68(pts), LANDMARKS68_MAP)
        return pts
