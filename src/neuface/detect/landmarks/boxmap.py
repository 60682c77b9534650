"""Where dlib's HOG detector would put its box, predicted from five face points.

dlib's 68-point predictor was trained on the boxes of dlib's own HOG detector and is only accurate when
given a box in that convention (measured: 0.19 inter-ocular error on a 3/4 face from a RetinaFace box vs
0.04 from a HOG box). Boxes of other detectors differ in size and offset, and the difference depends on the
face (RetinaFace's box includes the forehead, HOG's does not). Five points (eye centres, nose tip, mouth
corners) fix the face's scale, position and roll, so we predict HOG's box from them instead of from the
other detector's box.

The model works in the face's own frame: `u` along the eyes (left to right in the image), `v` at right
angles (down the face). With d_eye the eye distance, d_em the eye-centre-to-mouth-centre distance along
`v` and n_off the nose's offset from the eye centre along `u` (a yaw cue), it predicts

    size          = S0 * d_eye + S1 * d_em
    (centre-ec).u = X0 * d_eye + X1 * d_em + X2 * n_off
    (centre-ec).v = Y0 * d_eye + Y1 * d_em

No intercepts: the model scales with the face. Coefficients are least-squares fits on faces where both
detectors fire (`benchmarks/fit_landmark_boxmap.py` refits them and prints these constants).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoxMap:
    """Coefficients of the five-point -> HOG box model (see the module docstring)."""

    size: tuple[float, float]
    along: tuple[float, float, float]
    down: tuple[float, float]


# RetinaFace-mobilenet0.25's five points -> HOG box. Fitted by benchmarks/fit_landmark_boxmap.py.
RETINAFACE_MAP = BoxMap(size=(0.7588, 1.5265), along=(-0.0223, 0.0122, -0.1469), down=(0.2941, 0.2101))
# Five points derived from dlib's own 68 points (`five_from_68`) -> HOG box: re-boxing after a first
# prediction. Fitted by the same script on the predictor's output for the HOG boxes.
LANDMARKS68_MAP = BoxMap(size=(1.4314, 0.9069), along=(0.0086, -0.0132, -0.1306), down=(0.2069, 0.2713))


# Eye distance / eye-to-mouth distance: at or above the second the eye line sets the roll (every annotated
# face measured: 0.60-1.14, and the faces the box model was fitted on), at or below the first the eye-mouth
# line does (profiles: 0.02-0.11 in the Hamilton clip), linearly in between.
PROFILE_RATIO = (0.2, 0.5)


@dataclass(frozen=True)
class FaceFrame:
    """A face's own frame from five points: eye centre, unit axes, and the model's features."""

    eye_centre: np.ndarray
    u: np.ndarray
    v: np.ndarray
    d_eye: float
    d_em: float
    n_off: float

    @property
    def roll(self) -> float:
        """Angle of the eye line in radians (image y points down, so positive = clockwise on screen)."""
        return math.atan2(float(self.u[1]), float(self.u[0]))

    def features(self) -> np.ndarray:
        return np.array([self.d_eye, self.d_em, self.n_off])


def face_axis(eye: np.ndarray, em: np.ndarray) -> np.ndarray:
    """The face's left-to-right unit axis from the eye vector and the eye-centre-to-mouth-centre vector.

    On frontal and 3/4 faces (eye distance at least PROFILE_RATIO[1] of the eye-mouth distance) it is the
    eye line, as the box model was fitted. Towards a profile the two eyes project onto nearly one point and
    their line points anywhere (one measured profile: 63 degrees off, so the crop was rotated onto the
    hair), so the axis turns towards the normal of the eye-mouth line, which stays upright on a profile;
    fully so at PROFILE_RATIO[0].
    """
    d_eye, d_em = float(np.hypot(*eye)), float(np.hypot(*em))
    lo, hi = PROFILE_RATIO
    t = 1.0 if d_em == 0 else min(max((d_eye / d_em - lo) / (hi - lo), 0.0), 1.0)
    if t == 1.0:
        return eye / d_eye if d_eye > 0 else np.array([1.0, 0.0])
    a_em = math.atan2(-em[0], em[1])  # the eye-mouth line turned by -90 degrees: right in an upright face
    a_eye = math.atan2(eye[1], eye[0]) if d_eye > 0 else a_em
    a = a_em + t * (math.remainder(a_eye - a_em, math.tau))
    return np.array([math.cos(a), math.sin(a)])


def face_frame(kps5: np.ndarray) -> FaceFrame:
    """The frame of five points ordered (image-left eye, image-right eye, nose, left mouth, right mouth)."""
    p = np.asarray(kps5, dtype=np.float64).reshape(5, 2)
    ec = (p[0] + p[1]) / 2
    mc = (p[3] + p[4]) / 2
    eye = p[1] - p[0]
    d_eye = float(np.hypot(*eye))
    u = face_axis(eye, mc - ec)
    v = np.array([-u[1], u[0]])
    return FaceFrame(eye_centre=ec, u=u, v=v, d_eye=d_eye, d_em=float((mc - ec) @ v),
                     n_off=float((p[2] - ec) @ u))


def five_from_68(landmarks: np.ndarray) -> np.ndarray:
    """Five points in RetinaFace's order from 68 iBUG points: eye centres (36-41, 42-47), nose tip 30,
    mouth corners 48 and 54."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return np.array([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])


def hog_box(kps5: np.ndarray, coef: BoxMap) -> tuple[np.ndarray, float, float]:
    """(centre (2,), side, roll in radians) of the square HOG-convention box for these five points.

    The box is square in the face's frame; an upright predictor input is made by rotating the image by
    -roll about the centre (see `predictor`), or the axis-aligned square of the same centre and side is
    used as is.
    """
    f = face_frame(kps5)
    x = f.features()
    side = coef.size[0] * x[0] + coef.size[1] * x[1]
    along = float(np.dot(coef.along, x))
    down = coef.down[0] * x[0] + coef.down[1] * x[1]
    centre = f.eye_centre + along * f.u + down * f.v
    return centre, float(side), f.roll


def box_targets(kps5: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """(side, along, down) of a measured box in the face frame of `kps5`: what `fit_boxmap` regresses."""
    f = face_frame(kps5)
    l, t, r, b = (float(v) for v in rect[:4])
    c = np.array([(l + r) / 2, (t + b) / 2]) - f.eye_centre
    return np.array([((r - l) + (b - t)) / 2, c @ f.u, c @ f.v])


def fit_boxmap(kps5s: np.ndarray, rects: np.ndarray) -> BoxMap:
    """Least-squares `BoxMap` from many faces' five points and the HOG boxes found for them."""
    x = np.array([face_frame(k).features() for k in kps5s])
    y = np.array([box_targets(k, r) for k, r in zip(kps5s, rects, strict=True)])
    size = np.linalg.lstsq(x[:, :2], y[:, 0], rcond=None)[0]
    along = np.linalg.lstsq(x, y[:, 1], rcond=None)[0]
    down = np.linalg.lstsq(x[:, :2], y[:, 2], rcond=None)[0]
    return BoxMap(size=tuple(float(v) for v in size), along=tuple(float(v) for v in along),
                  down=tuple(float(v) for v in down))
