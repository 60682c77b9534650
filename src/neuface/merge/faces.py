"""Where each frame's faces come from: `detect`'s stored alignments, or a detector run on the fly.

Stored alignments are used only when they certainly belong to this video: every frame was extracted
(`extract` without `--fps`, so frame N is `N:05d.*`), the frame count matches the video's and the first
extracted frame shows the same picture as the first decoded one. Then the user's curation counts, as in
DFL's merger: a frame whose faces were deleted from `aligned/` passes through unchanged, and `neuface mask`
results can be used (`--mask-mode stored`). Otherwise faces are detected on each decoded frame.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from neuface.console import warn
from neuface.detect import LandmarkSmoother
from neuface.errors import FacesetFormatError, UsageError
from neuface.merge.motion import Motion
from neuface.workspace import Side, Workspace

FACE_SOURCES = ("auto", "stored", "detect")
# Mean absolute difference (grey levels) under which an extracted frame "is" the decoded one (JPEG frames differ).
SAME_FRAME_TOLERANCE = 3.0


@dataclass
class FrameFace:
    """One face in a frame: 68 frame-space landmarks, plus the stored XSeg mask and its framing when known."""

    landmarks: np.ndarray  # (68,2) float64, frame pixels
    stored_mask: np.ndarray | None = None  # (256,256) float32 in the stored face's own framing
    stored_face_type: str | None = None
    motion: Motion | None = None  # set by `motion.assign_motion` when --motion-blur is on


def smooth_faces(smoother: LandmarkSmoother | None, indices: Sequence[int],
                 faces: Sequence[list[FrameFace]]) -> list[list[FrameFace]]:
    """Each frame's faces with temporally smoothed landmarks (`neuface.detect.smoothing`), frames in decode
    order; new FrameFace objects, so the stored alignments a source may hand out again stay as they were.
    None (or an off smoother) returns `faces` itself: `--no-smooth` is the unsmoothed pipeline exactly."""
    if smoother is None or not smoother.enabled:
        return list(faces)
    out = []
    for i, frame in zip(indices, faces, strict=True):
        smoothed = smoother.smooth([f.landmarks for f in frame], i)
        out.append([replace(f, landmarks=lm) for f, lm in zip(frame, smoothed, strict=True)])
    return out


class FaceSource:
    """Faces for batches of decoded frames (1-based decode index + BGR uint8 image)."""

    def faces(self, indices: Sequence[int], frames: Sequence[np.ndarray]) -> list[list[FrameFace]]:
        raise NotImplementedError  # pragma: no cover


class StoredFaces(FaceSource):
    """`detect`'s alignments, by frame index (from each face's `source_filename`)."""

    def __init__(self, by_index: dict[int, list[FrameFace]], n_faces: int, smoothed: bool = False):
        self.by_index = by_index
        self.n_faces = n_faces
        self.smoothed = smoothed  # every face was smoothed by `detect --smooth`: merge must not smooth again

    def faces(self, indices: Sequence[int], frames: Sequence[np.ndarray]) -> list[list[FrameFace]]:
        return [self.by_index.get(i, []) for i in indices]

    @classmethod
    def load(cls, aligned_dir: Path) -> StoredFaces:
        from neuface.detect import SMOOTHED_KEY
        from neuface.faceset import Faceset

        by_index: dict[int, list[FrameFace]] = defaultdict(list)
        n = skipped = marked = 0
        with Faceset.open(aligned_dir) as fs:
            for rec in fs:
                try:
                    meta = rec.meta
                except FacesetFormatError as exc:
                    warn(str(exc))
                    skipped += 1
                    continue
                stem = Path(meta.source_filename or "").stem
                if not stem.isdigit() or meta.source_landmarks is None:
                    skipped += 1
                    continue
                mask = meta.get_xseg_mask()
                by_index[int(stem)].append(FrameFace(
                    landmarks=np.asarray(meta.source_landmarks, np.float64),
                    stored_mask=None if mask is None else np.asarray(mask, np.float32).reshape(mask.shape[:2]),
                    stored_face_type=meta.face_type))
                n += 1
                marked += SMOOTHED_KEY in meta.extra
        if skipped:
            warn(f"{aligned_dir}: {skipped} faces without a numbered source frame or source landmarks were skipped")
        return cls(dict(by_index), n, smoothed=n > 0 and marked == n)


class DetectedFaces(FaceSource):
    """Faces found on the fly by a `neuface.detect` backend (no identity embeddings needed)."""

    def __init__(self, backend: str = "auto", device: str = "auto", max_faces: int = 0):
        from neuface.detect import DetectOptions, create_backend

        self.backend = create_backend(backend, DetectOptions(with_embeddings=False), device=device)
        self.max_faces = max_faces

    def faces(self, indices: Sequence[int], frames: Sequence[np.ndarray]) -> list[list[FrameFace]]:
        from neuface.detect import select_faces

        found = self.backend.detect_batch(list(frames))
        return [[FrameFace(np.asarray(f.landmarks, np.float64)) for f in select_faces(faces, self.max_faces)]
                for faces in found]


def _same_picture(path: Path, first: np.ndarray) -> bool:
    from neuface.detect import FrameError, load_frame

    try:
        img = load_frame(path)
    except FrameError:
        return False
    h, w = img.shape[:2]  # load_frame cuts an odd size by one pixel, as DFL's extractor does
    if first.shape[0] - h not in (0, 1) or first.shape[1] - w not in (0, 1):
        return False
    diff = np.abs(img.astype(np.int16) - first[:h, :w].astype(np.int16))
    return float(diff.mean()) <= SAME_FRAME_TOLERANCE


def stored_alignments_reason(ws: Workspace, video_frames: int, first_frame: np.ndarray) -> str | None:
    """None when the workspace's dst alignments belong to every frame of this video, else why not."""
    frames = ws.frame_files(Side.dst)
    aligned = ws.aligned_dir(Side.dst)
    if not aligned.is_dir() or not any(aligned.iterdir()):
        return f"no aligned faces in {aligned}"
    if not frames:
        return f"no extracted frames in {ws.frames_dir(Side.dst)}"
    if video_frames <= 0:
        return "the video does not say how many frames it has"
    if len(frames) != video_frames or frames[0].stem != "00001" or frames[-1].stem != f"{video_frames:05d}":
        return (f"{ws.frames_dir(Side.dst)} holds {len(frames)} frames, the video {video_frames} "
                "(extracted with --fps, or from another video)")
    if not _same_picture(frames[0], first_frame):
        return f"{frames[0].name} does not show the video's first frame (extracted from another video)"
    return None


def choose_face_source(ws: Workspace, which: str, video_frames: int, first_frame: np.ndarray, *,
                       backend: str = "auto", device: str = "auto", max_faces: int = 0) -> tuple[FaceSource, str]:
    """(source, why) for `--faces auto|stored|detect`."""
    if which not in FACE_SOURCES:
        raise UsageError(f"--faces {which!r}: choose from {', '.join(FACE_SOURCES)}")
    if which != "detect":
        reason = stored_alignments_reason(ws, video_frames, first_frame)
        if reason is None:
            stored = StoredFaces.load(ws.aligned_dir(Side.dst))
            note = " (smoothed by detect --smooth: not smoothed again)" if stored.smoothed else ""
            return stored, f"stored alignments: {stored.n_faces} faces from {ws.aligned_dir(Side.dst)}{note}"
        if which == "stored":
            raise UsageError(f"--faces stored: cannot use the workspace's alignments: {reason}")
        why = f"detecting faces on the fly ({reason})"
    else:
        why = "detecting faces on the fly (--faces detect)"
    return DetectedFaces(backend, device, max_faces), why
