"""Landmark utilities shared by detect, sort, XSeg, train and merge (DFL's LandmarksProcessor, §3.6).

Names follow DeepFaceLab's so code reading the spec maps one to one:

- `get_image_hull_mask(shape, lmrks, eyebrows_expand_mod=1.0)`: the default face mask when a face has no
  XSeg mask (training's "full face" mask, merge's hull mask, XSeg's bootstrap mask).
- `get_image_eye_mask`, `get_image_mouth_mask`, `get_image_eye_mouth_mask`: the blurred masks for
  "eyes and mouth priority" training.
- `estimate_pitch_yaw_roll(aligned_lmrks, size)`: head pose for `sort --by face-yaw/pitch` and best-face
  selection.
- `mirror_landmarks`, `MIRROR_IDXS`: horizontal flips for augmentation.
- `draw_landmarks`, `draw_rect`: the extractor's debug drawing.

All functions take landmarks as (68,2) arrays (lists are accepted) in the pixel space of the image they
are drawn on.
Alignment (`get_transform_mat`, `transform_points`, `estimate_averaged_yaw`) is `neuface.dfl.align`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

# DFL's 3D mean face (Appendix B), used by the pose estimate.
LANDMARKS_68_3D = np.array([
    [-73.393523, -29.801432, 47.667532], [-72.775014, -10.949766, 45.909403], [-70.533638, 7.929818, 44.842580],
    [-66.850058, 26.074280, 43.141114], [-59.790187, 42.564390, 38.635298], [-48.368973, 56.481080, 30.750622],
    [-34.121101, 67.246992, 18.456453], [-17.875411, 75.056892, 3.609035], [0.098749, 77.061286, -0.881698],
    [17.477031, 74.758448, 5.181201], [32.648966, 66.929021, 19.176563], [46.372358, 56.311389, 30.770570],
    [57.343480, 42.419126, 37.628629], [64.388482, 25.455880, 40.886309], [68.212038, 6.990805, 42.281449],
    [70.486405, -11.666193, 44.142567], [71.375822, -30.365191, 47.140426], [-61.119406, -49.361602, 14.254422],
    [-51.287588, -58.769795, 7.268147], [-37.804800, -61.996155, 0.442051], [-24.022754, -61.033399, -6.606501],
    [-11.635713, -56.686759, -11.967398], [12.056636, -57.391033, -12.051204], [25.106256, -61.902186, -7.315098],
    [38.338588, -62.777713, -1.022953], [51.191007, -59.302347, 5.349435], [60.053851, -50.190255, 11.615746],
    [0.653940, -42.193790, -13.380835], [0.804809, -30.993721, -21.150853], [0.992204, -19.944596, -29.284036],
    [1.226783, -8.414541, -36.948060], [-14.772472, 2.598255, -20.132003], [-7.180239, 4.751589, -23.536684],
    [0.555920, 6.562900, -25.944448], [8.272499, 4.661005, -23.695741], [15.214351, 2.643046, -20.858157],
    [-46.047290, -37.471411, 7.037989], [-37.674688, -42.730510, 3.021217], [-27.883856, -42.711517, 1.353629],
    [-19.648268, -36.754742, -0.111088], [-28.272965, -35.134493, -0.147273], [-38.082418, -34.919043, 1.476612],
    [19.265868, -37.032306, -0.665746], [27.894191, -43.342445, 0.247660], [37.437529, -43.110822, 1.696435],
    [45.170805, -38.086515, 4.894163], [38.196454, -35.532024, 0.282961], [28.764989, -35.484289, -1.172675],
    [-28.916267, 28.612716, -2.240310], [-17.533194, 22.172187, -15.934335], [-6.684590, 19.029051, -22.611355],
    [0.381001, 20.721118, -23.748437], [8.375443, 19.035460, -22.721995], [18.876618, 22.394109, -15.610679],
    [28.794412, 28.079924, -3.217393], [19.057574, 36.298248, -14.987997], [8.956375, 39.634575, -22.554245],
    [0.381549, 40.395647, -23.591626], [-7.428895, 39.836405, -22.406106], [-18.160634, 36.677899, -15.121907],
    [-24.377490, 28.677771, -4.785684], [-6.897633, 25.475976, -20.893742], [0.340663, 26.014269, -22.220479],
    [8.444722, 25.326198, -21.025520], [24.474473, 28.323008, -5.712776], [8.449166, 30.596216, -20.671489],
    [0.205322, 31.408738, -21.903670], [-7.198266, 30.844876, -20.328022],
], dtype=np.float32)

# Index of each landmark's mirror partner (§3.2): flip x and reorder with this.
_MIRROR_PAIRS = [(0, 16), (1, 15), (2, 14), (3, 13), (4, 12), (5, 11), (6, 10), (7, 9), (17, 26), (18, 25),
                 (19, 24), (20, 23), (21, 22), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
                 (31, 35), (32, 34), (50, 52), (49, 53), (48, 54), (59, 55), (58, 56), (67, 65), (60, 64),
                 (61, 63)]
MIRROR_IDXS = np.arange(68)
for _a, _b in _MIRROR_PAIRS:
    MIRROR_IDXS[_a], MIRROR_IDXS[_b] = _b, _a

# Convex pieces of DFL's hull mask (point groups filled one by one).
_HULL_PARTS: tuple[tuple[int, ...], ...] = (
    (*range(0, 9), 17),
    (*range(8, 17), 26),
    (17, 18, 19, 8),
    (24, 25, 26, 8),
    (*range(19, 25), 8),
    (*range(17, 22), 27, *range(31, 36), 8),
    (*range(22, 27), 27, *range(31, 36), 8),
    (*range(27, 31), *range(31, 36)),
)


def _as_landmarks(lmrks: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(lmrks)
    if arr.shape != (68, 2):
        raise ValueError(f"expected (68,2) landmarks, got shape {arr.shape}")
    return arr


def expand_eyebrows(lmrks: np.ndarray, eyebrows_expand_mod: float = 1.0) -> np.ndarray:
    """Integer landmarks with the eyebrows lifted away from the eyes (so the hull covers the forehead edge).

    Truncates to int first and stores the lifted points back into the int array, as DFL does.
    """
    lm = _as_landmarks(lmrks).astype(np.int64)
    ml = (lm[36] + lm[0]) // 2
    mr = (lm[16] + lm[45]) // 2
    ql = (lm[36] + ml) // 2
    qr = (lm[45] + mr) // 2
    bot_l = np.array((ql, lm[36], lm[37], lm[38], lm[39]))
    bot_r = np.array((lm[42], lm[43], lm[44], lm[45], qr))
    top_l = lm[17:22].copy()
    top_r = lm[22:27].copy()
    lm[17:22] = top_l + eyebrows_expand_mod * 0.5 * (top_l - bot_l)
    lm[22:27] = top_r + eyebrows_expand_mod * 0.5 * (top_r - bot_r)
    return lm


def get_image_hull_mask(image_shape: Sequence[int], image_landmarks: np.ndarray,
                        eyebrows_expand_mod: float | None = 1.0) -> np.ndarray:
    """DFL's landmark face mask: float32 (h, w, 1), 1 inside the face hull (eyebrows lifted), else 0."""
    mask = np.zeros((int(image_shape[0]), int(image_shape[1]), 1), dtype=np.float32)
    lm = expand_eyebrows(image_landmarks, 1.0 if eyebrows_expand_mod is None else eyebrows_expand_mod)
    for part in _HULL_PARTS:
        cv2.fillConvexPoly(mask, cv2.convexHull(lm[list(part)].astype(np.int32)), (1,))
    return mask


def _blurred_hull(image_shape: Sequence[int], image_landmarks: np.ndarray,
                  groups: Sequence[slice]) -> np.ndarray:
    h, w = int(image_shape[0]), int(image_shape[1])
    mask = np.zeros((h, w, 1), dtype=np.float32)
    lm = _as_landmarks(image_landmarks).astype(np.int64).astype(np.int32)
    for group in groups:
        cv2.fillConvexPoly(mask, cv2.convexHull(lm[group]), (1,))
    dilate = h // 32
    if dilate > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (dilate, dilate)), iterations=1)
    blur = (h // 16) | 1  # odd
    mask = cv2.GaussianBlur(mask, (blur, blur), 0)
    return mask.reshape(h, w, 1)


def get_image_eye_mask(image_shape: Sequence[int], image_landmarks: np.ndarray) -> np.ndarray:
    """Both eyes' hulls, dilated by h//32 and blurred by h//16 (odd): float32 (h, w, 1) in [0, 1]."""
    return _blurred_hull(image_shape, image_landmarks, (slice(36, 42), slice(42, 48)))


def get_image_mouth_mask(image_shape: Sequence[int], image_landmarks: np.ndarray) -> np.ndarray:
    """The inner-lip hull, dilated by h//32 and blurred by h//16 (odd): float32 (h, w, 1) in [0, 1]."""
    return _blurred_hull(image_shape, image_landmarks, (slice(60, 68),))


def get_image_eye_mouth_mask(image_shape: Sequence[int], image_landmarks: np.ndarray) -> np.ndarray:
    """Eyes plus mouth, clipped to [0, 1]: SAEHD's eyes_mouth_prio weight map."""
    return np.clip(get_image_eye_mask(image_shape, image_landmarks)
                   + get_image_mouth_mask(image_shape, image_landmarks), 0, 1)


def rotation_matrix_to_euler_angles(R: np.ndarray) -> np.ndarray:
    """(x, y, z) Euler angles of a 3x3 rotation matrix (DFL's mathlib convention)."""
    sy = math.sqrt(R[0, 0] * R[0, 0] + R[1, 0] * R[1, 0])
    y = math.atan2(-R[2, 0], sy)
    if sy >= 1e-6:
        return np.array([math.atan2(R[2, 1], R[2, 2]), y, math.atan2(R[1, 0], R[0, 0])])
    return np.array([math.atan2(-R[1, 2], R[1, 1]), y, 0.0])  # gimbal lock: no roll


_POSE_ROWS = np.r_[0:27, 30:36]


def estimate_pitch_yaw_roll(aligned_landmarks: np.ndarray, size: int = 256) -> tuple[float, float, float]:
    """Head pose (pitch, yaw, roll) in radians, each clipped to ±π/2, from aligned-space landmarks.

    solvePnP against DFL's 3D mean face with focal length = size; DFL negates the pitch. Roll often
    saturates at ±π/2 for near-planar landmarks: sort by pitch/yaw, not roll.
    """
    lm = _as_landmarks(aligned_landmarks)
    camera = np.array([[size, 0, size / 2], [0, size, size / 2], [0, 0, 1]], dtype=np.float32)
    _, rvec, _ = cv2.solvePnP(LANDMARKS_68_3D[_POSE_ROWS], lm[_POSE_ROWS].astype(np.float32),
                              camera, np.zeros((4, 1)))
    half_pi = math.pi / 2.0
    pitch, yaw, roll = (float(np.clip(a, -half_pi, half_pi))
                        for a in rotation_matrix_to_euler_angles(cv2.Rodrigues(rvec)[0]))
    return -pitch, yaw, roll


def mirror_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally flipped image: partners swapped, x' = width - x - 1."""
    lm = _as_landmarks(landmarks)[MIRROR_IDXS].copy()
    lm[:, 0] = width - lm[:, 0] - 1
    return lm


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray, color: tuple[int, int, int] = (0, 255, 0),
                   draw_circles: bool = True, thickness: int = 1) -> None:
    """Draw the 68 points and their contours in place (DFL's debug style: jaw circles r=2, others r=1)."""
    lm = _as_landmarks(landmarks).astype(np.int32)
    groups = (lm[0:17], lm[17:22], lm[22:27], lm[27:31], lm[31:36])
    closed = (lm[36:42], lm[42:48], lm[48:60], lm[60:68])
    for g in groups:
        cv2.polylines(image, [g.reshape(-1, 1, 2)], False, color, thickness, cv2.LINE_AA)
    for g in closed:
        cv2.polylines(image, [g.reshape(-1, 1, 2)], True, color, thickness, cv2.LINE_AA)
    if draw_circles:
        for i, (x, y) in enumerate(lm):
            cv2.circle(image, (int(x), int(y)), 2 if i < 17 else 1, color, -1, cv2.LINE_AA)


def draw_rect(image: np.ndarray, rect: Sequence[float], color: tuple[int, int, int], thickness: int = 2) -> None:
    """Draw an (l, t, r, b) rectangle in place."""
    l, t, r, b = (int(v) for v in rect)
    cv2.rectangle(image, (l, t), (r, b), color, thickness)
