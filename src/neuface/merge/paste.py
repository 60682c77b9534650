"""Paste a predicted face back into its frame (DFL's MergeMaskedFace paste-back, dfl-formats.md §10.2).

Works on the face's bounding box only (the rest of the frame is never touched, so pixels outside the
mask stay bit-identical to the input), in float32 0..1 like DFL:

* overlay / hist-match / raw-rgb: colour-correct the predicted face in the crop, warp it into the frame
  (bicubic, inverse of the output matrix; `--face-scale` scales both face and mask), blend with the mask;
* seamless / seamless-hist-match: `cv2.seamlessClone` with the mask binarised at the lowest of 0.1..0.9
  that leaves a region, then the soft-mask blend; colour transfer (and hist-match) run afterwards on the
  re-cropped merged face and are pasted back with the same mask;
* post-effects (`--motion-blur`, `--sharpen`, `--denoise`, `--bicubic-degrade`, in DFL's order): re-crop,
  process, paste back with the mask;
  `--color-degrade` then blends the face area toward a 256-colour version of itself.
* raw-predict is not pasted at all: `raw_predict_frame` returns the model's square (see merger).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from neuface.dfl.align import get_transform_mat, transform_points
from neuface.merge.effects import bicubic_degrade, blur_sharpen, denoise, hist_match, reduce_colors, transfer
from neuface.merge.masks import MIN_MASK, SUBRES_FACTOR, erode_blur
from neuface.merge.motion import Motion, kernel_size, motion_blur
from neuface.merge.options import MergeOptions

ROI_MARGIN = 4  # pixels around the face square (seamlessClone needs context at the border)


@dataclass
class FaceResult:
    """What the model and the mask step give one face, in the model's crop (R x R)."""

    landmarks: np.ndarray  # frame space (68,2)
    face_type: str
    crop: np.ndarray  # dst face (R,R,3) float32 0..1
    prediction: np.ndarray  # swapped face (R,R,3) float32 0..1
    mask: np.ndarray  # mask mode's product (R,R) float32 0..1
    motion: Motion | None = None  # previous-to-next frame motion, for --motion-blur


def _roi(mats: list[tuple[np.ndarray, int]], shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the frame box covering every crop square (matrix, size), plus a margin."""
    pts = np.concatenate([transform_points(np.float32([(0, 0), (s, 0), (s, s), (0, s)]), m, invert=True)
                          for m, s in mats])
    h, w = shape
    x0 = max(int(np.floor(pts[:, 0].min())) - ROI_MARGIN, 0)
    y0 = max(int(np.floor(pts[:, 1].min())) - ROI_MARGIN, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + ROI_MARGIN + 1, w)
    y1 = min(int(np.ceil(pts[:, 1].max())) + ROI_MARGIN + 1, h)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _shift(mat: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """A frame->crop matrix as an ROI->crop matrix (ROI pixel (0,0) is frame pixel (x0,y0))."""
    out = np.array(mat, np.float64, copy=True)
    out[:, 2] += out[:, :2] @ np.array([x0, y0], np.float64)
    return out


def _paste(face: np.ndarray, mat: np.ndarray, onto: np.ndarray) -> np.ndarray:
    """`face` warped (bicubic) from crop space into a copy of `onto` (pixels it does not cover are kept)."""
    out = onto.copy()
    cv2.warpAffine(face, mat, (onto.shape[1], onto.shape[0]), dst=out,
                   flags=cv2.WARP_INVERSE_MAP | cv2.INTER_CUBIC, borderMode=cv2.BORDER_TRANSPARENT)
    return out


def _blend(base: np.ndarray, face: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return base + (face - base) * mask


def _seamless_mask(mask: np.ndarray) -> np.ndarray | None:
    for i in range(1, 10):
        binary = mask[..., 0] > i / 10.0
        if binary.any():
            return binary.astype(np.uint8) * 255
    return None


def _seamless(pasted: np.ndarray, base: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """cv2.seamlessClone of the pasted face into `base`, centred as DFL does (None when OpenCV refuses)."""
    binary = _seamless_mask(mask)
    if binary is None:
        return None
    l, t, w, h = cv2.boundingRect(binary)
    to_u8 = lambda a: np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)  # noqa: E731
    try:
        out = cv2.seamlessClone(to_u8(pasted), to_u8(base), binary, (int(l + w / 2), int(t + h / 2)),
                                cv2.NORMAL_CLONE)
    except cv2.error:
        return None
    return out.astype(np.float32) / 255.0


def merge_face(frame: np.ndarray, face: FaceResult, opts: MergeOptions, rng: np.random.Generator) -> bool:
    """Merge one face into `frame` (BGR uint8, modified in place). False when nothing was pasted."""
    res = face.prediction.shape[0]
    scale = 1.0 + 0.01 * opts.face_scale
    face_mat = get_transform_mat(face.landmarks, res, face.face_type)
    out_mat = get_transform_mat(face.landmarks, res, face.face_type, scale=scale)
    mask_mat = get_transform_mat(face.landmarks, res * SUBRES_FACTOR, face.face_type, scale=scale)
    roi = _roi([(face_mat, res), (out_mat, res)], frame.shape[:2])
    if roi is None:
        return False
    x0, y0, x1, y1 = roi

    work = np.ones((res, res), np.float32) if opts.raw else face.mask
    sub = erode_blur(work, res, opts.erode, opts.blur, raw=opts.raw)
    size = (x1 - x0, y1 - y0)
    mask = cv2.warpAffine(sub, _shift(mask_mat, x0, y0), size, flags=cv2.WARP_INVERSE_MAP | cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_CONSTANT)
    mask = np.clip(np.where(mask < MIN_MASK, 0.0, mask), 0.0, 1.0).astype(np.float32)[..., None]
    if not mask.any():
        return False
    area = (cv2.resize(sub, (res, res), interpolation=cv2.INTER_CUBIC) > 0).astype(np.float32)

    seamless = opts.mode.startswith("seamless")
    prd = face.prediction
    if opts.mode == "hist-match":
        prd = hist_match(prd, face.crop, area if opts.masked_hist_match else None, opts.hist_match_threshold)
    if not seamless and not opts.raw:
        prd = transfer(opts.color_transfer, prd, face.crop, area, rng)

    base = frame[y0:y1, x0:x1].astype(np.float32) / 255.0
    roi_out, roi_face = _shift(out_mat, x0, y0), _shift(face_mat, x0, y0)
    pasted = _paste(prd, roi_out, base)
    if seamless:
        cloned = _seamless(pasted, base, mask)
        pasted = cloned if cloned is not None else pasted
    merged = _blend(base, pasted, mask)

    def recrop(fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        crop = np.clip(cv2.warpAffine(merged, roi_face, (res, res), flags=cv2.INTER_CUBIC), 0.0, 1.0)
        return _blend(base, _paste(fn(crop), roi_face, merged), mask)

    if seamless and opts.color_transfer != "none":
        merged = recrop(lambda c: transfer(opts.color_transfer, c, face.crop, area, rng))
    if opts.mode == "seamless-hist-match":
        merged = recrop(lambda c: hist_match(c, face.crop, area if opts.masked_hist_match else None,
                                             opts.hist_match_threshold))
    blur_size = kernel_size(face.motion, opts.motion_blur) if opts.motion_blur and face.motion else 0
    if blur_size:
        degrees = face.motion.degrees  # type: ignore[union-attr]
        merged = recrop(lambda c: motion_blur(c, blur_size, degrees))
    if opts.sharpen:
        merged = recrop(lambda c: blur_sharpen(c, opts.sharpen, opts.sharpen_mode))
    if opts.denoise:
        merged = recrop(lambda c: denoise(c, opts.denoise))
    if opts.bicubic_degrade:
        merged = recrop(lambda c: bicubic_degrade(c, opts.bicubic_degrade))
    if opts.color_degrade:
        merged = _blend(base, reduce_colors(merged, opts.color_degrade), mask)
    frame[y0:y1, x0:x1] = np.clip(np.rint(merged * 255.0), 0, 255).astype(np.uint8)
    return True


def raw_predict_frame(faces: list[FaceResult], res: int) -> np.ndarray:
    """DFL's raw-predict output: the first (largest) face's prediction as an R x R BGR uint8 image; black
    when the frame has no face, so every output frame has the same size (a video needs that)."""
    if not faces:
        return np.zeros((res, res, 3), np.uint8)
    return np.clip(np.rint(faces[0].prediction * 255.0), 0, 255).astype(np.uint8)
