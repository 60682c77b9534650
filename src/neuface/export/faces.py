"""Face crops to verify an export on: the workspace's own aligned faces when there are any.

Verifying on real faces matters: a synthetic image exercises the graph but not the value ranges a
trained model produces on what it was trained for.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from neuface.export.check import face_to_input, synthetic_probe
from neuface.workspace import IMAGE_EXTENSIONS, Side, Workspace

DEFAULT_PROBE_COUNT = 4


def read_faces(paths: Iterable[str | os.PathLike[str]], limit: int = DEFAULT_PROBE_COUNT) -> list[np.ndarray]:
    """Up to `limit` readable images (HWC BGR uint8) from `paths`, in order; unreadable files are skipped."""
    import cv2

    faces: list[np.ndarray] = []
    for p in paths:
        if len(faces) >= limit:
            break
        img = cv2.imread(os.fspath(p), cv2.IMREAD_COLOR)
        if img is not None:
            faces.append(img)
    return faces


def workspace_faces(ws: Workspace, limit: int = DEFAULT_PROBE_COUNT) -> list[np.ndarray]:
    """Aligned faces from the workspace, dst first (what the live app will see), then src."""
    candidates: list[Path] = []
    for side in (Side.dst, Side.src):
        d = ws.aligned_dir(side)
        if d.is_dir():
            files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            candidates += files[: limit]
    return read_faces(candidates, limit)


def faces_batch(images: Sequence[np.ndarray], res: int) -> np.ndarray:
    """NHWC float32 0..1 batch at `res`, preprocessed exactly as DeepFaceLive does; synthetic when empty.

    Always at least two faces, so the dynamic batch dimension is exercised.
    """
    imgs = list(images) or [synthetic_probe(res, seed=s) for s in range(2)]
    if len(imgs) == 1:
        imgs.append(np.ascontiguousarray(imgs[0][:, ::-1]))
    return np.concatenate([face_to_input(img, (res, res)) for img in imgs], axis=0)
