"""DFL's face alignment: the image-to-face matrix of an aligned crop, reproduced bit-exactly.

DeepFaceLab crops every face with `get_transform_mat` (dfl-formats.md §3.4). DFL trains, merges and
re-aligns with that matrix, so ours must match it to the last bit: the arithmetic below keeps DFL's
float32 intermediates, which numpy 1.x produced through value-based casting (a float32 array times a
float64 *scalar* stayed float32). numpy 2 promotes such products to float64, so every scalar that
multiplies a float32 vector is cast to float32 explicitly here.

Face types may be given as anything `FaceType.from_string` parses: a DFL full name ("whole_face"), a short
code ("wf"), a DFL integer value or a `FaceType` member; their padding comes from `FaceType`.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from neuface.dfl.facetype import FaceType

# DFL's `landmarks_2D_new`: mean positions of iBUG points 17..48 and 54 in the unit square (Appendix A).
LANDMARKS_2D_NEW = np.array([
    [0.000213256, 0.106454], [0.0752622, 0.038915], [0.18113, 0.0187482], [0.29077, 0.0344891],
    [0.393397, 0.0773906], [0.586856, 0.0773906], [0.689483, 0.0344891], [0.799124, 0.0187482],
    [0.904991, 0.038915], [0.98004, 0.106454], [0.490127, 0.203352], [0.490127, 0.307009],
    [0.490127, 0.409805], [0.490127, 0.515625], [0.36688, 0.587326], [0.426036, 0.609345],
    [0.490127, 0.628106], [0.554217, 0.609345], [0.613373, 0.587326], [0.121737, 0.216423],
    [0.187122, 0.178758], [0.265825, 0.179852], [0.334606, 0.231733], [0.260918, 0.245099],
    [0.182743, 0.244077], [0.645647, 0.231733], [0.714428, 0.179852], [0.793132, 0.178758],
    [0.858516, 0.216423], [0.79751, 0.244077], [0.719335, 0.245099], [0.254149, 0.780233],
    [0.726104, 0.780233],
], dtype=np.float32)

# Which of the 68 landmarks are fitted to LANDMARKS_2D_NEW.
TEMPLATE_INDICES = np.r_[17:49, 54]

# The crop's corners and centre in template space.
_TEMPLATE_CORNERS = np.float32([(0, 0), (1, 0), (1, 1), (0, 1), (0.5, 0.5)])


def umeyama(src: np.ndarray, dst: np.ndarray, estimate_scale: bool = True) -> np.ndarray:
    """Least-squares similarity (Umeyama 1991) mapping `src` onto `dst`; a (dim+1, dim+1) matrix.

    Keeps the dtypes DFL's inputs give it (float64 source, float32 destination: the destination mean
    stays float32) because the last bits of the alignment depend on them.
    """
    num, dim = src.shape
    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    src_demean = src - src_mean
    dst_demean = dst - dst_mean
    cov = dst_demean.T @ src_demean / num
    d = np.ones((dim,), dtype=np.float64)
    if np.linalg.det(cov) < 0:
        d[dim - 1] = -1
    T = np.eye(dim + 1, dtype=np.float64)
    U, S, Vt = np.linalg.svd(cov)
    rank = np.linalg.matrix_rank(cov)
    if rank == 0:
        return np.nan * T
    if rank == dim - 1:
        if np.linalg.det(U) * np.linalg.det(Vt) > 0:
            T[:dim, :dim] = U @ Vt
        else:  # a reflection for the rotation only: `d` itself stays as it is for the scale
            T[:dim, :dim] = U @ np.diag(np.r_[d[:-1], -1.0]) @ Vt
    else:
        T[:dim, :dim] = U @ np.diag(d) @ Vt
    scale = 1.0 / src_demean.var(axis=0).sum() * (S @ d) if estimate_scale else 1.0
    T[:dim, dim] = dst_mean - scale * (T[:dim, :dim] @ src_mean.T)
    T[:dim, :dim] *= scale
    return T


def transform_points(points: np.ndarray, mat: np.ndarray, invert: bool = False) -> np.ndarray:
    """Apply a 2x3 affine matrix (or its inverse) to (N,2) points; the output keeps the input dtype.

    Same arithmetic as DFL (cv2.transform), so float32 points give DFL's float32 results.
    """
    pts = np.asarray(points)
    out = cv2.transform(pts.reshape(-1, 1, 2), cv2.invertAffineTransform(mat) if invert else mat)
    return out.reshape(pts.shape)


def estimate_averaged_yaw(landmarks: np.ndarray) -> float:
    """Horizontal asymmetry of the jaw around the nose bridge, in the landmarks' units (DFL's yaw proxy)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    left = ((lm[27, 0] - lm[0, 0]) + (lm[28, 0] - lm[1, 0]) + (lm[29, 0] - lm[2, 0])) / 3.0
    right = ((lm[16, 0] - lm[27, 0]) + (lm[15, 0] - lm[28, 0]) + (lm[14, 0] - lm[29, 0])) / 3.0
    return float(right - left)


def _unit(vec: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """float32 unit vector and its float32 length (DFL normalises in place on float32 copies)."""
    v = vec.astype(np.float32)
    length = np.linalg.norm(v)
    return v / length, length


def _polygon_area_f32(x: np.ndarray, y: np.ndarray) -> float:
    """Shoelace area with each sum accumulated sequentially in float32, as DFL's 4-element np.dot did."""
    xr, yr = np.roll(x, 1), np.roll(y, 1)
    s1 = s2 = np.float32(0)
    for i in range(len(x)):
        s1 = np.float32(s1 + np.float32(x[i] * yr[i]))
        s2 = np.float32(s2 + np.float32(y[i] * xr[i]))
    return float(np.float32(0.5) * np.abs(np.float32(s1 - s2)))


def landmarks_to_template_mat(image_landmarks: np.ndarray) -> np.ndarray:
    """The 2x3 similarity from frame space to DFL's unit-square template space."""
    lm = np.asarray(image_landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected (68,2) landmarks, got shape {lm.shape}")
    return umeyama(lm[TEMPLATE_INDICES], LANDMARKS_2D_NEW, True)[0:2]


def get_transform_mat(image_landmarks: np.ndarray, output_size: int, face_type: str | int | FaceType,
                      scale: float = 1.0) -> np.ndarray:
    """DFL's frame→aligned-face matrix (float64 2x3) for 68 frame-space landmarks (§3.4), bit-exact."""
    ft = FaceType.from_string(face_type)
    padding = ft.padding
    if padding is None:
        raise ValueError(f"face type {ft.dfl_name!r} has no alignment transform")
    lm = np.asarray(image_landmarks, dtype=np.float64)
    mat = landmarks_to_template_mat(lm)

    g = transform_points(_TEMPLATE_CORNERS, mat, invert=True)  # float32 (5,2)
    gc = g[4].copy()
    tb, _ = _unit(g[2] - g[0])
    bt, _ = _unit(g[1] - g[3])

    # float64 product, then rounded to float32 where it scales float32 vectors (numpy 1 casting).
    mod = np.float32((1.0 / scale) * (float(np.linalg.norm(g[0] - g[2])) * (padding * math.sqrt(2.0) + 0.5)))

    if ft == FaceType.WHOLE_FACE:
        up, up_len = _unit(g[0] - g[3])
        gc += up * up_len * np.float32(0.07)
    elif ft == FaceType.HEAD:
        yaw = estimate_averaged_yaw(transform_points(lm, mat, False))
        left, left_len = _unit(g[0] - g[1])
        yaw *= abs(math.tanh(yaw * 2))
        gc -= left * np.float32(yaw * float(left_len) / 2.0)
        up, up_len = _unit(g[0] - g[3])
        gc += up * up_len * np.float32(0.50)

    if not ft.remove_align:
        l_t = np.array([gc - tb * mod, gc + bt * mod, gc + tb * mod], dtype=np.float32)
    else:
        quad = np.array([gc - tb * mod, gc + bt * mod, gc + tb * mod, gc - bt * mod], dtype=np.float32)
        side = np.float32(math.sqrt(_polygon_area_f32(quad[:, 0], quad[:, 1])) / 2)
        l_t = np.array([gc + np.float32([-side, -side]), gc + np.float32([side, -side]),
                        gc + np.float32([side, side])], dtype=np.float32)

    dst = np.float32([(0, 0), (output_size, 0), (output_size, output_size)])
    return cv2.getAffineTransform(l_t, dst)


def get_rect_from_landmarks(image_landmarks: np.ndarray) -> tuple[float, float, float, float]:
    """Frame-space box (l, t, r, b) of a 256-px full_face_no_align crop, as DFL's helper."""
    mat = get_transform_mat(image_landmarks, 256, FaceType.FULL_NO_ALIGN)
    (l, t), (r, b) = transform_points(np.float32([(0, 0), (255, 255)]), mat, True)
    return float(l), float(t), float(r), float(b)


def warp_face(image: np.ndarray, mat: np.ndarray, size: int) -> np.ndarray:
    """The aligned crop as DFL's extractor makes it: bilinear, black border (§0.4 quirk)."""
    return cv2.warpAffine(image, mat, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def crop_outline(mat: np.ndarray, size: int) -> np.ndarray:
    """The crop's four corners in frame space (float32 (4,2)): for debug drawings and the area filter."""
    corners = np.float32([(0, 0), (0, size - 1), (size - 1, size - 1), (size - 1, 0)])
    return transform_points(corners, mat, invert=True)
