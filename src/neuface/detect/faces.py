"""From detected faces to aligned crops with DFL metadata (DFL's `final_stage`, §4.4), for one frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuface.detect.backends.base import DetectedFace
from neuface.detect.identity import identity_extra
from neuface.dfl.align import get_transform_mat, transform_points, warp_face
from neuface.dfl.facetype import FaceType

# DFL's default output size per face type (§3.5).
DEFAULT_SIZE = 512
DEFAULT_HEAD_SIZE = 768


def default_size(face_type: str) -> int:
    """DFL's default crop size: 768 px for the head types, else 512."""
    head = FaceType.from_string(face_type) in (FaceType.HEAD, FaceType.HEAD_NO_ALIGN)
    return DEFAULT_HEAD_SIZE if head else DEFAULT_SIZE


@dataclass
class AlignedFace:
    """One aligned crop ready to write: pixels plus DFL's metadata fields."""

    image: np.ndarray
    face_type: str
    landmarks: np.ndarray  # aligned space, float64 (DFL stores float64 values)
    source_filename: str
    source_rect: np.ndarray  # int64 (l, t, r, b)
    source_landmarks: np.ndarray
    image_to_face_mat: np.ndarray
    extra: dict

    def to_meta(self):
        from neuface.faceset.meta import FaceMeta

        return FaceMeta(face_type=self.face_type, landmarks=self.landmarks, source_filename=self.source_filename,
                        source_rect=self.source_rect, source_landmarks=self.source_landmarks,
                        image_to_face_mat=self.image_to_face_mat, extra=dict(self.extra))


def select_faces(faces: list[DetectedFace], max_faces: int = 0, min_face_size: float = 0) -> list[DetectedFace]:
    """Faces with landmarks, at least `min_face_size` px, largest first, at most `max_faces` (0 = all)."""
    kept = [f for f in faces if f.landmarks is not None and f.size >= min_face_size]
    kept.sort(key=lambda f: f.area, reverse=True)
    return kept[:max_faces] if max_faces > 0 else kept


def _polygon_area(pts: np.ndarray) -> float:
    x, y = pts[:, 0].astype(np.float64), pts[:, 1].astype(np.float64)
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def crop_too_large(mat: np.ndarray, size: int, rect: np.ndarray) -> bool:
    """DFL's automatic-mode filter: the crop covers more than 4x the detector box (bad landmarks)."""
    corners = transform_points(np.float32([(0, 0), (0, size - 1), (size - 1, size - 1), (size - 1, 0)]), mat, True)
    l, t, r, b = (float(v) for v in rect)
    return _polygon_area(corners) > 4 * abs(r - l) * abs(b - t)


def align_faces(frame: np.ndarray, faces: list[DetectedFace], frame_name: str, face_type: str, size: int,
                identity_model: str | None) -> list[AlignedFace]:
    """Crop and describe each face in order; faces failing DFL's area filter are skipped (no index used)."""
    out: list[AlignedFace] = []
    check_area = FaceType.from_string(face_type) <= FaceType.FULL_NO_ALIGN
    for face in faces:
        lm = np.asarray(face.landmarks, dtype=np.float64)
        mat = get_transform_mat(lm, size, face_type)
        rect = np.trunc(np.asarray(face.rect, dtype=np.float64)).astype(np.int64)
        if check_area and crop_too_large(mat, size, rect):
            continue
        out.append(AlignedFace(
            image=warp_face(frame, mat, size), face_type=face_type, landmarks=transform_points(lm, mat),
            source_filename=frame_name, source_rect=rect, source_landmarks=lm, image_to_face_mat=mat,
            extra=identity_extra(face.embedding, identity_model),
        ))
    return out
