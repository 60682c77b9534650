"""The extractor's debug image (`aligned_debug/<frame>.jpg`), drawn as DFL draws it (§4.4.6).

Per face: the hull-mask area darkened to half brightness, landmarks in green, the detector box in blue,
the crop outline in red with a small red triangle at the crop's top-left corner (orientation marker).
A frame without faces still gets its (plain) debug image: deleting it is how the user asks
`--redo-deleted-debug` to try that frame again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from neuface.dfl.align import transform_points
from neuface.dfl.landmarks import draw_landmarks, draw_rect, get_image_hull_mask

DEBUG_JPEG_QUALITY = 50


@dataclass(frozen=True)
class DebugFace:
    rect: np.ndarray
    landmarks: np.ndarray
    mat: np.ndarray | None  # image_to_face_mat (None for faces with no crop)
    size: int


def draw_debug(frame: np.ndarray, faces: Sequence[DebugFace]) -> np.ndarray:
    """A copy of `frame` with every face drawn."""
    img = frame.copy()
    for face in faces:
        mask = get_image_hull_mask(img.shape, face.landmarks)
        img = (img * (1 - mask * 0.5)).astype(np.uint8)
        draw_landmarks(img, face.landmarks)
        draw_rect(img, face.rect, (255, 0, 0), 2)
        if face.mat is not None:
            s = face.size
            outline = transform_points(np.float32([(0, 0), (0, s - 1), (s - 1, s - 1), (s - 1, 0)]), face.mat, True)
            cv2.polylines(img, [outline.astype(np.int32).reshape(-1, 1, 2)], True, (0, 0, 255), 2)
            tri = transform_points(np.float32([(int(s * 0.05), 0), (int(s * 0.1), int(s * 0.1)), (0, int(s * 0.1))]),
                                   face.mat, True)
            cv2.polylines(img, [tri.astype(np.int32).reshape(-1, 1, 2)], True, (0, 0, 255), 2)
    return img


def encode_debug(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, DEBUG_JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding of the debug image failed")
    return buf.tobytes()
