"""One aligned face -> what training caches for it: the crop at the model's framing, its masks, its yaw.

Follows DFL's SampleProcessor (dfl-models.md §2.8, dfl-formats.md §6.4): a face stored in a larger face
type is re-cropped to the model's (cubic, replicate border; masks linear, zero border), else resized. The
full-face mask is the stored XSeg mask (bicubic to the image size, clipped) or the landmark hull; the
eyes-and-mouth mask is the eye+mouth masks times the binarised face mask, renormalised to max 1.
Everything here depends only on the face, so it runs once per face when the cache is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from neuface.dfl.align import get_transform_mat
from neuface.dfl.facetype import FaceType, face_type_name
from neuface.dfl.landmarks import estimate_pitch_yaw_roll, get_image_eye_mouth_mask, get_image_hull_mask


@dataclass
class PreparedFace:
    """Cached per face: crop (res,res,3) uint8 BGR, masks (res,res,2) uint8 [face, eyes+mouth], yaw radians."""

    crop: np.ndarray
    masks: np.ndarray
    yaw: float


def full_face_mask(image_shape: tuple[int, ...], meta) -> np.ndarray:
    """float32 (h,w,1): the stored XSeg mask resized bicubically and clipped, else the landmark hull."""
    h, w = image_shape[:2]
    xseg = meta.get_xseg_mask()
    if xseg is not None:
        xseg = np.asarray(xseg, np.float32)
        if xseg.shape[:2] != (h, w):
            xseg = cv2.resize(xseg, (w, h), interpolation=cv2.INTER_CUBIC)
        return np.clip(xseg.reshape(h, w, 1), 0, 1)
    return get_image_hull_mask((h, w), meta.landmarks, meta.eyebrows_expand_mod)


def prepare_face(image: np.ndarray, meta, res: int, model_face_type: str) -> PreparedFace:
    """Crop/resize a stored aligned face and its masks to the model's face type and resolution."""
    h, w = image.shape[:2]
    landmarks = np.asarray(meta.landmarks, np.float32)
    face = full_face_mask(image.shape, meta)
    em_mask = get_image_eye_mouth_mask((h, w), landmarks) * (face != 0).astype(np.float32)
    masks = np.concatenate([face, em_mask.reshape(h, w, 1)], -1)
    if face_type_name(meta.face_type) != model_face_type:
        mat = get_transform_mat(landmarks, res, model_face_type)
        crop = cv2.warpAffine(image, mat, (res, res), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        masks = cv2.warpAffine(masks, mat, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    else:
        crop = image if (h, w) == (res, res) else cv2.resize(image, (res, res), interpolation=cv2.INTER_CUBIC)
        masks = masks if (h, w) == (res, res) else cv2.resize(masks, (res, res), interpolation=cv2.INTER_LINEAR)
    em = masks[..., 1]
    peak = float(em.max())
    if peak > 0:
        masks[..., 1] = em / peak
    _, yaw, _ = estimate_pitch_yaw_roll(landmarks, size=w)
    masks_u8 = np.clip(np.rint(masks * 255), 0, 255).astype(np.uint8)
    return PreparedFace(crop=np.ascontiguousarray(crop, np.uint8), masks=masks_u8, yaw=float(yaw))


def check_face_type(stored: str, model_face_type: str, where: str) -> None:
    """DFL's rule: a face stored in a smaller face type than the model's cannot be trained on."""
    if FaceType.from_string(stored) < FaceType.from_string(model_face_type):
        from neuface.errors import FacesetFormatError

        raise FacesetFormatError(
            f"{where}: faces are {face_type_name(stored)} but the model is {model_face_type}; "
            f"extract faces as {model_face_type} (or larger) or train a model with a smaller --face-type")
