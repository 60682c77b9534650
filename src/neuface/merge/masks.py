"""The merge mask of one face: the mask mode's terms multiplied, then DFL's erode/blur (dfl-formats.md §10.2).

Terms live in the model's crop (R x R): the model's own masks (`learned-prd` = swapped-face mask,
`learned-dst` = dst-face mask), the landmark hull (`dst`), XSeg run on the fly on the predicted face or the
dst crop (`xseg-prd`, `xseg-dst`, as DFL's merger: XSeg from the model folder, not stored masks) and the
mask `neuface mask` stored on the dst face, re-warped from the stored face's framing (`stored`).

Post-processing follows DFL so its option values mean the same here: the mask is upscaled to 4R
("mask subres"), zero-padded by R, eroded (or dilated) with an elliptical kernel of |erode| px, its border
band of R + blur/2 zeroed, Gaussian-blurred with a kernel of `blur` px, un-padded and clipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from neuface.dfl.align import get_transform_mat, transform_points
from neuface.dfl.landmarks import get_image_hull_mask

XSEG_RES = 256
SUBRES_FACTOR = 4  # DFL's mask_subres = 4 x model resolution
MIN_MASK = 1.0 / 255.0


def hull_mask(landmarks: np.ndarray, face_mat: np.ndarray, res: int) -> np.ndarray:
    """DFL's `dst` mask: the landmark hull (eyebrows lifted) in the model crop, (R,R) float32."""
    lm = transform_points(np.asarray(landmarks, np.float64), face_mat)
    return get_image_hull_mask((res, res), lm)[..., 0]


def stored_mask(mask: np.ndarray, stored_face_type: str, landmarks: np.ndarray, face_mat: np.ndarray,
                res: int) -> np.ndarray:
    """A stored 256x256 XSeg mask (in its face's own framing) re-warped into the model crop, (R,R) float32."""
    size = mask.shape[0]
    own = np.vstack([get_transform_mat(landmarks, size, stored_face_type), [0, 0, 1]])
    to_crop = np.vstack([face_mat, [0, 0, 1]]) @ np.linalg.inv(own)
    return cv2.warpAffine(np.asarray(mask, np.float32), to_crop[:2], (res, res), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)


def combine(terms: Sequence[str], term_value: Callable[[str], np.ndarray]) -> np.ndarray:
    """The product of the terms (`learned-prd+learned-dst` is DFL's clipped sum)."""
    out: np.ndarray | None = None
    for term in terms:
        if term == "learned-prd+learned-dst":
            value = np.clip(term_value("learned-prd") + term_value("learned-dst"), 0.0, 1.0)
        else:
            value = term_value(term)
        out = value.astype(np.float32, copy=True) if out is None else out * value
    assert out is not None
    return out


def xseg_inputs(faces: np.ndarray) -> np.ndarray:
    """Model-resolution faces (N,R,R,3) float32 -> XSeg's (N,256,256,3) (bicubic, as DFL's XSeg-prd)."""
    if faces.shape[1] == XSEG_RES:
        return faces
    return np.stack([cv2.resize(f, (XSEG_RES, XSEG_RES), interpolation=cv2.INTER_CUBIC) for f in faces])


def to_res(masks: np.ndarray, res: int) -> np.ndarray:
    """XSeg masks (N,256,256) -> (N,R,R) (bicubic, clipped)."""
    if masks.shape[1] == res:
        return masks
    return np.stack([np.clip(cv2.resize(m, (res, res), interpolation=cv2.INTER_CUBIC), 0, 1) for m in masks])


def erode_blur(mask: np.ndarray, res: int, erode: int, blur: int, raw: bool = False) -> np.ndarray:
    """DFL's mask post-processing at mask subres (4R): returns the (4R,4R) float32 mask in 0..1."""
    m = np.where(mask < MIN_MASK, 0.0, mask).astype(np.float32)
    sub = res * SUBRES_FACTOR
    m = cv2.resize(m, (sub, sub), interpolation=cv2.INTER_CUBIC)
    if raw:
        return np.clip(m, 0.0, 1.0)
    pad = res
    m = np.pad(m, pad)
    if erode > 0:
        m = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (erode, erode)), iterations=1)
    elif erode < 0:
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (-erode, -erode)), iterations=1)
    band = pad + blur // 2
    m[:band, :] = 0
    m[-band:, :] = 0
    m[:, :band] = 0
    m[:, -band:] = 0
    if blur > 0:
        k = blur | 1  # forced odd
        m = cv2.GaussianBlur(m, (k, k), 0)
    return np.clip(m[pad:-pad, pad:-pad], 0.0, 1.0)
