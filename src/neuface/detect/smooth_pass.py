"""`neuface detect --smooth`: steady the written faces over time, as a second pass in frame order.

Why a second pass: detection runs frames in parallel (a process pool on CPU, batches on GPU) and in no
guaranteed order, while a temporal filter must see the frames in order. Collecting every frame's landmarks
first and aligning afterwards would hold all frames or re-read them anyway; so the pool writes its faces as
usual, and this pass reads their metadata back (source landmarks, embedding), runs the One-Euro smoother
(`neuface.detect.smoothing`) over the frame sequence, and for every face whose landmarks changed re-warps
the crop from the source frame with the smoothed landmarks and rewrites the face atomically through the
same writer (`align_faces` arithmetic, `write_aligned_jpeg`), so the result stays DFL-readable and is what
a detect run with those landmarks would have written; every face is marked `neuface_smoothed` so that
`neuface merge` does not smooth the stored faces a second time. The detector box (`source_rect`) and the identity
embedding stay as detected; the debug image is redrawn so it shows what was saved.

It runs on the staging folder before it replaces `aligned/`, so an interrupted pass leaves the old faces.
Frames are ordered by name (extract writes 00001.png ...); numbered stems give the frame index, so a gap
in the numbering (deleted frames) counts as missing frames and resets tracks like a missed detection.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuface.atomic import atomic_write_bytes
from neuface.detect.debug import DebugFace, draw_debug, encode_debug
from neuface.detect.frames import FrameError, load_frame
from neuface.detect.identity import IDENTITY_KEY
from neuface.detect.smoothing import LandmarkSmoother
from neuface.dfl.align import get_transform_mat, transform_points, warp_face
from neuface.faceset.dfljpg import read_parsed, update_meta, write_aligned_jpeg
from neuface.faceset.meta import FaceMeta

DEFAULT_FPS = 25.0  # when the workspace has no video to read the rate from
# Extra metadata key (DFL ignores unknown keys) on every face of a smoothed run: the strength used. Merge
# reads it and does not smooth such stored faces again (a second filter would add its lag to the first's).
SMOOTHED_KEY = "neuface_smoothed"


def _embedding(meta: FaceMeta) -> np.ndarray | None:
    """The stored identity vector, if any: helps matching when a frame has several faces."""
    vec = meta.extra.get(IDENTITY_KEY)
    return None if vec is None else np.asarray(vec, np.float32).ravel()


def _faces_by_frame(aligned_dir: Path) -> dict[str, list[tuple[Path, FaceMeta, int]]]:
    """{frame stem: [(face file, metadata, size px)] in face-index order} of the faces written per frame."""
    by_frame: dict[str, list[tuple[int, Path, FaceMeta, int]]] = defaultdict(list)
    for path in aligned_dir.glob("*.jpg"):
        stem, _, idx = path.stem.rpartition("_")
        if not stem or not idx.isdigit():
            continue
        parsed = read_parsed(path)
        if parsed.meta.source_landmarks is not None:
            by_frame[stem].append((int(idx), path, parsed.meta, int(parsed.shape[0])))
    return {s: [(p, m, n) for _, p, m, n in sorted(v, key=lambda e: e[0])] for s, v in by_frame.items()}


def _frame_indices(frames: Sequence[Path]) -> list[int]:
    """Frame numbers for the smoother: the numbered stems when all are numbers, else the positions."""
    stems = [f.stem for f in frames]
    if all(s.isdigit() for s in stems):
        return [int(s) for s in stems]
    return list(range(len(frames)))


def smooth_written_faces(frames: Sequence[Path], aligned_dir: Path, debug_dir: Path | None, fps: float,
                         strength: float, jpeg_quality: int = 90) -> int:
    """Smooth the faces detect wrote into `aligned_dir` over `frames` (name order = time); returns how many
    faces were rewritten. Strength 0 touches nothing."""
    smoother = LandmarkSmoother(fps, strength)
    if not smoother.enabled:
        return 0
    faces = _faces_by_frame(aligned_dir)
    for found in faces.values():  # every face is marked: merge must know the whole run was smoothed
        for _, meta, _ in found:
            meta.extra[SMOOTHED_KEY] = float(strength)
    ordered = sorted(frames, key=lambda p: p.name)
    rewritten = 0
    for path, index in zip(ordered, _frame_indices(ordered), strict=True):
        found = faces.get(path.stem, [])
        raw = [np.asarray(m.source_landmarks, np.float64) for _, m, _ in found]
        smoothed = smoother.smooth(raw, index, [_embedding(m) for _, m, _ in found])
        frame = None
        if any(not np.array_equal(a, b) for a, b in zip(raw, smoothed, strict=True)):
            try:
                frame = load_frame(path)
            except FrameError:
                pass  # it was readable a moment ago; keep the detected faces rather than fail the run
        if frame is None:
            for face_path, meta, _ in found:
                update_meta(face_path, meta)  # the mark only; image bytes unchanged
            continue
        drawn = []
        for (face_path, meta, size), lm in zip(found, smoothed, strict=True):
            mat = get_transform_mat(lm, size, meta.face_type)
            meta.source_landmarks = lm
            meta.image_to_face_mat = mat
            meta.landmarks = transform_points(lm, mat)
            write_aligned_jpeg(face_path, warp_face(frame, mat, size), meta, jpeg_quality)
            drawn.append(DebugFace(meta.source_rect, lm, mat, size))
            rewritten += 1
        if debug_dir is not None and (debug_dir / f"{path.stem}.jpg").exists():
            atomic_write_bytes(debug_dir / f"{path.stem}.jpg", encode_debug(draw_debug(frame, drawn)))
    return rewritten



def written_corner_track(aligned_dir: Path) -> np.ndarray:
    """(T, 4, 2) frame-space corners of the first face of each frame, from the matrices detect stored: what
    a DFL trainer or merger crops, so `neuface.detect.smoothing.jitter`/`lag_frames` on two such tracks
    measure a detect run as written (frames without a face are left out)."""
    from neuface.dfl.align import crop_outline

    out = []
    for _stem, found in sorted(_faces_by_frame(aligned_dir).items()):
        _, meta, size = found[0]
        if meta.image_to_face_mat is not None:
            out.append(crop_outline(np.asarray(meta.image_to_face_mat, np.float64), size).astype(np.float64))
    return np.stack(out)
