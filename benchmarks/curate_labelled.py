"""Build a labelled faceset of real faces with known defects for `neuface curate` (never committed).

Frames of a real talking head are detected with neuface's dlib backend and aligned as `detect` aligns
them (whole_face, 256 px, identity stored); a share of them get one defect made on purpose before
alignment, so every defect goes through the same warp a real one would:

  other_person  the face of another person from another clip
  cut_off       the frame cropped through the face (the crop runs past the frame edge)
  blurry        motion blur (a line kernel) or Gaussian blur of the frame
  exposure      gamma to dark or to bright
  occluded      an object patch (from fixtures/real/no_faces) over the mouth or the eyes
  misaligned    landmarks shifted or rotated before alignment

`build(out_dir, n_clean, per_variant)` writes the faces to `out_dir/aligned/` and returns {name: reason
or None}. Used by benchmarks/curate_quality.py and tests/test_curate_quality.py.
"""

from __future__ import annotations

import glob
from pathlib import Path

import cv2
import numpy as np

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"
MAIN_CLIP = "talking_head_d3.mp4"
OTHER_CLIPS = ("talking_head_tpsmm.mp4", "talking_head_d0.mp4")
VARIANTS: dict[str, str] = {
    "other": "other_person", "cut": "cut_off", "motion_blur": "blurry", "gauss_blur": "blurry",
    "dark": "exposure", "bright": "exposure", "patch_mouth": "occluded", "patch_eyes": "occluded",
    "shift": "misaligned", "rotate": "misaligned",
}


def frames(clip: Path, count: int) -> list[np.ndarray]:
    """`count` frames spread evenly over the clip."""
    cap = cv2.VideoCapture(str(clip))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    want = set(np.linspace(0, total - 1, count).astype(int).tolist())
    out, i = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i in want:
            out.append(frame)
        i += 1
    cap.release()
    return out


class _Detector:
    def __init__(self) -> None:
        from neuface.detect.backends import DetectOptions, create_backend

        self.backend = create_backend("dlib", DetectOptions(with_embeddings=True))

    def largest(self, frame: np.ndarray):
        faces = [f for f in self.backend.detect(frame) if f.landmarks is not None]
        return max(faces, key=lambda f: f.area) if faces else None

    def embed(self, frame: np.ndarray, lm: np.ndarray) -> np.ndarray:
        return self.backend.embed(frame, lm)


def _eye_dist(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))


def _gamma(frame: np.ndarray, g: float) -> np.ndarray:
    return (255.0 * (frame / 255.0) ** g).astype(np.uint8)


def _patch(frame: np.ndarray, lm: np.ndarray, part: slice, rng: np.random.Generator) -> np.ndarray:
    objects = sorted(glob.glob(str(REAL / "no_faces" / "*.png")))
    obj = cv2.imread(objects[int(rng.integers(len(objects)))], cv2.IMREAD_COLOR)
    pts = lm[part]
    (l, t), (r, b) = pts.min(0), pts.max(0)
    cx, cy, w, h = (l + r) / 2, (t + b) / 2, (r - l) * 1.3, max((b - t) * 2.2, (r - l) * 0.5)
    l, t, r, b = (int(round(v)) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    out = frame.copy()
    out[t:b, l:r] = cv2.resize(obj, (r - l, b - t), interpolation=cv2.INTER_AREA)
    return out


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    k = cv2.warpAffine(k, rot, (length, length))
    return k / k.sum()


def defect(variant: str, frame: np.ndarray, lm: np.ndarray, rng: np.random.Generator
           ) -> tuple[np.ndarray, np.ndarray]:
    """(frame, landmarks) with the defect `variant` made on purpose."""
    eye = _eye_dist(lm)
    if variant == "cut":
        # crop the frame through the face: 30-45% of the face width falls outside the new frame
        (l, _), (r, _) = lm.min(0), lm.max(0)
        x0 = int(l + (r - l) * rng.uniform(0.3, 0.45))
        return np.ascontiguousarray(frame[:, x0:]), lm - np.array([x0, 0.0])
    if variant == "motion_blur":
        return cv2.filter2D(frame, -1, _motion_kernel(max(5, int(eye * 0.35)) | 1, rng.uniform(0, 180))), lm
    if variant == "gauss_blur":
        return cv2.GaussianBlur(frame, (0, 0), eye * 0.06), lm
    if variant == "dark":
        return _gamma(frame, rng.uniform(2.2, 2.8)), lm
    if variant == "bright":
        return _gamma(frame, rng.uniform(0.3, 0.4)), lm
    if variant == "patch_mouth":
        return _patch(frame, lm, slice(48, 68), rng), lm
    if variant == "patch_eyes":
        return _patch(frame, lm, slice(36, 48), rng), lm
    if variant == "shift":
        angle = rng.uniform(0, 2 * np.pi)
        return frame, lm + eye * 0.3 * np.array([np.cos(angle), np.sin(angle)])
    if variant == "rotate":
        c = lm.mean(0)
        a = np.radians(rng.choice([-1, 1]) * rng.uniform(12, 16))
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        return frame, (lm - c) @ rot.T + c
    raise ValueError(variant)


def _write(path: Path, frame: np.ndarray, lm: np.ndarray, emb: np.ndarray, name: str) -> None:
    from neuface.detect.identity import identity_extra
    from neuface.dfl.align import get_transform_mat, transform_points, warp_face
    from neuface.faceset.dfljpg import write_aligned_jpeg
    from neuface.faceset.meta import FaceMeta

    mat = get_transform_mat(lm, 256, "whole_face")
    (l, t), (r, b) = lm.min(0), lm.max(0)
    meta = FaceMeta(face_type="whole_face", landmarks=transform_points(lm, mat), source_filename=name,
                    source_rect=np.array([l, t, r, b]).astype(np.int64), source_landmarks=lm,
                    image_to_face_mat=mat, extra=identity_extra(emb, "dlib_resnet_v1"))
    write_aligned_jpeg(path, warp_face(frame, mat, 256), meta)


def build(out_dir: Path, n_clean: int, per_variant: int, seed: int = 0, main_clip: str = MAIN_CLIP
          ) -> dict[str, str | None]:
    """Write a labelled faceset to `out_dir/aligned/`; return {file name: reason or None (clean)}.

    `main_clip` is the faceset's person; the other-person faces come from the OTHER_CLIPS that are not it
    (and from MAIN_CLIP when another clip is the main one).
    """
    rng = np.random.default_rng(seed)
    det = _Detector()
    variants = [v for v in VARIANTS for _ in range(per_variant) if v != "other"]
    plan: list[str | None] = [None] * n_clean + variants  # type: ignore[list-item]
    order = rng.permutation(len(plan))
    main = frames(REAL / main_clip, len(plan))
    others: list[np.ndarray] = []
    other_clips = [c for c in (MAIN_CLIP, *OTHER_CLIPS) if c != main_clip][:2]
    for clip in other_clips:
        others += frames(REAL / clip, (per_variant + 1) // 2)
    aligned = out_dir / "aligned"
    aligned.mkdir(parents=True, exist_ok=True)
    labels: dict[str, str | None] = {}
    for k, frame in zip(order.tolist(), main, strict=False):
        face = det.largest(frame)
        if face is None:
            continue
        variant, lm = plan[k], np.asarray(face.landmarks, np.float64)
        img = frame
        if variant is not None:
            img, lm = defect(variant, frame, lm, rng)
        name = f"{len(labels):05d}_{variant or 'clean'}.jpg"
        _write(aligned / name, img, lm, det.embed(img, lm), name)
        labels[name] = None if variant is None else VARIANTS[variant]
    for frame in others[:per_variant]:
        face = det.largest(frame)
        if face is None:
            continue
        name = f"{len(labels):05d}_other.jpg"
        lm = np.asarray(face.landmarks, np.float64)
        _write(aligned / name, frame, lm, det.embed(frame, lm), name)
        labels[name] = "other_person"
    return labels
