"""Face crops to verify an export on: the workspace's own aligned faces when there are any.

Verifying on real faces matters: a synthetic image exercises the graph but not the value ranges a
trained model produces on what it was trained for. Faces are read through `neuface.faceset`, so a
packed `faceset.pak` serves as well as loose images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from neuface.errors import NeufaceError
from neuface.export.check import face_to_input, synthetic_probe
from neuface.faceset import Faceset
from neuface.workspace import Side, Workspace

DEFAULT_PROBE_COUNT = 4


def faceset_faces(aligned_dir: str | os.PathLike[str], limit: int = DEFAULT_PROBE_COUNT) -> list[np.ndarray]:
    """Up to `limit` decodable faces (HWC BGR uint8) of one aligned folder or its pak, in faceset order.

    A missing folder or an unreadable face just yields fewer probes: verification falls back to
    synthetic images, it never blocks an export.
    """
    faces: list[np.ndarray] = []
    try:
        fs = Faceset.open(aligned_dir)
    except NeufaceError:
        return faces
    with fs:
        for rec in fs:
            if len(faces) >= limit:
                break
            try:
                faces.append(rec.load_image())
            except NeufaceError:
                continue
    return faces


def workspace_faces(ws: Workspace, limit: int = DEFAULT_PROBE_COUNT) -> list[np.ndarray]:
    """Aligned faces from the workspace, dst first (what the live app will see), then src."""
    faces: list[np.ndarray] = []
    for side in (Side.dst, Side.src):
        if len(faces) >= limit:
            break
        faces += faceset_faces(ws.aligned_dir(side), limit - len(faces))
    return faces


def faces_batch(images: Sequence[np.ndarray], res: int) -> np.ndarray:
    """NHWC float32 0..1 batch at `res`, preprocessed exactly as DeepFaceLive does; synthetic when empty.

    Always at least two faces, so the dynamic batch dimension is exercised.
    """
    imgs = list(images) or [synthetic_probe(res, seed=s) for s in range(2)]
    if len(imgs) == 1:
        imgs.append(np.ascontiguousarray(imgs[0][:, ::-1]))
    return np.concatenate([face_to_input(img, (res, res)) for img in imgs], axis=0)
