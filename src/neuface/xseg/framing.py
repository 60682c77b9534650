"""Moving faces and masks between an aligned face's own framing and XSeg's (face type, 256 px), as DFL does.

Two paths, because DFL uses two (dfl-formats.md §6.2, §6.3):
* applying masks re-warps through the *frame*: XSeg crop corners -> frame (via `source_landmarks`) ->
  this aligned image, so the mask lands back in the file's framing exactly;
* training warps with `get_transform_mat(aligned landmarks, 256, xseg type)`, no frame needed.
Polygon labels are rasterised as DFL's `overlay_mask`: points truncated to int, includes then excludes.
"""

from __future__ import annotations

import cv2
import numpy as np

from neuface.dfl.align import get_transform_mat, transform_points
from neuface.dfl.facetype import face_type_name
from neuface.faceset.polys import INCLUDE, load_polys
from neuface.xseg.net import RESOLUTION


def rasterize_polys(seg_ie_polys: object, shape: tuple[int, int]) -> np.ndarray:
    """DFL's polygon label as a float32 (H,W) 0/1 mask: fillPoly 1 for includes, 0 for excludes (excludes last)."""
    mask = np.zeros(shape, np.float32)
    for kind, pts in load_polys(seg_ie_polys):
        if len(pts) == 0:
            continue
        cv2.fillPoly(mask, [pts.astype(np.int32)], 1.0 if kind == INCLUDE else 0.0)
    return mask


def has_poly_points(seg_ie_polys: object) -> bool:
    """DFL trains on a face when its polygons hold at least one point."""
    try:
        return any(len(pts) > 0 for _, pts in load_polys(seg_ie_polys))
    except ValueError:
        return False


def reframe_matrix(meta_face_type: str, source_landmarks: np.ndarray | None, landmarks: np.ndarray,
                   width: int, xseg_face_type: str) -> np.ndarray | None:
    """Affine matrix from the aligned image (its own face type) to the XSeg face type's framing at `width`.

    None when the face types are equal. With frame landmarks it is DFL's corner mapping through the frame;
    without them (cropped/resized facesets) it is computed from the aligned landmarks, as DFL's trainer does.
    """
    xft, fft = face_type_name(xseg_face_type), face_type_name(meta_face_type)
    if xft == fft:
        return None
    if source_landmarks is None:
        return get_transform_mat(landmarks, width, xft)
    fmat = get_transform_mat(source_landmarks, width, xft)
    imat = get_transform_mat(source_landmarks, width, fft)
    corners = np.float32([(0, 0), (width, 0), (0, width)])
    in_frame = transform_points(corners, fmat, invert=True)
    in_aligned = transform_points(in_frame, imat, invert=False)
    return cv2.getAffineTransform(np.float32(in_aligned), corners)


def face_to_xseg(image_bgr: np.ndarray, mat: np.ndarray | None) -> np.ndarray:
    """An aligned face (uint8 BGR) as XSeg's float32 (256,256,3) input in [0,1], like `apply_xseg`."""
    img = image_bgr.astype(np.float32) / 255.0
    w = img.shape[1]
    if mat is not None:
        # DFL passes INTER_LANCZOS4 where warpAffine expects `dst`, so this warp is bilinear (§0.4 quirk).
        img = cv2.warpAffine(img, mat, (w, w), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if w != RESOLUTION:
        img = cv2.resize(img, (RESOLUTION, RESOLUTION), interpolation=cv2.INTER_LANCZOS4)
    return img


def mask_from_xseg(mask: np.ndarray, mat: np.ndarray | None, width: int) -> np.ndarray:
    """An XSeg output (256,256) back in the file's framing at 256×256, binarised at 0.5 (float32 0/1)."""
    m = mask.astype(np.float32)
    if mat is not None:
        m = cv2.resize(m, (width, width), interpolation=cv2.INTER_LANCZOS4)
        m = cv2.warpAffine(m, mat, (width, width), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LANCZOS4)
        m = cv2.resize(m, (RESOLUTION, RESOLUTION), interpolation=cv2.INTER_LANCZOS4)
    return (m >= 0.5).astype(np.float32)


def sample_to_xseg(image_bgr: np.ndarray, mask: np.ndarray, face_type: str, landmarks: np.ndarray,
                   xseg_face_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Training framing (§6.3): image uint8 (256,256,3) and mask float32 (256,256) in XSeg's face type."""
    if face_type_name(face_type) == face_type_name(xseg_face_type):
        if image_bgr.shape[0] != RESOLUTION or image_bgr.shape[1] != RESOLUTION:
            image_bgr = cv2.resize(image_bgr, (RESOLUTION, RESOLUTION), interpolation=cv2.INTER_LANCZOS4)
            mask = cv2.resize(mask, (RESOLUTION, RESOLUTION), interpolation=cv2.INTER_LANCZOS4)
        return image_bgr, mask
    mat = get_transform_mat(landmarks, RESOLUTION, xseg_face_type)
    size = (RESOLUTION, RESOLUTION)
    img = cv2.warpAffine(image_bgr, mat, size, flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_CONSTANT)
    m = cv2.warpAffine(mask, mat, size, flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_CONSTANT)
    return img, m
