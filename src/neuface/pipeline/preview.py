"""A picture of what a `.dfm` does: dst faces, the swapped faces it returns, its mask, and the blend.

Made by running the exported file itself in onnxruntime with DeepFaceLive's feed (not the PyTorch model),
so the picture shows what DeepFaceLive will show.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuface.atomic import atomic_write_bytes
from neuface.provenance import encode_png, synthetic_media_text
from neuface.workspace import Side, Workspace

TITLES = ("dst face", "swapped", "swap mask", "blended")


def spread_faces(ws: Workspace, limit: int = 4) -> list[np.ndarray]:
    """Up to `limit` aligned faces spread over the faceset (dst first, then src), from a folder or a pak.

    Spread rather than the first few: consecutive frames look alike, faces across the clip show the range.
    """
    from neuface.faceset import Faceset

    faces: list[np.ndarray] = []
    for side in (Side.dst, Side.src):
        aligned = ws.aligned_dir(side)
        if len(faces) >= limit or not aligned.is_dir():
            continue
        with Faceset.open(aligned) as fs:
            n, want = len(fs), limit - len(faces)
            faces += [fs[i].load_image() for i in sorted({k * n // want for k in range(min(n, want))})]
    return faces


def run_faces(dfm: str | os.PathLike[str], faces: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(inputs NHWC float 0..1, [out_face_mask, out_celeb_face, out_celeb_face_mask]) one face at a time."""
    from neuface.export import contract as C
    from neuface.export.check import face_to_input
    from neuface.runtime import ort_session

    sess = ort_session(dfm, device="cpu")
    inputs = {i.name: i for i in sess.get_inputs()}
    shape = inputs[C.INPUT_FACE].shape
    res = (int(shape[1]), int(shape[2]))
    xs, outs = [], []
    for face in faces:
        x = face_to_input(face, res)
        feed = {C.INPUT_FACE: x}
        if C.INPUT_MORPH in inputs:
            feed[C.INPUT_MORPH] = np.float32([C.DEFAULT_MORPH])
        xs.append(x)
        outs.append(sess.run(None, feed))
    return np.concatenate(xs), [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]


def _upscale(batch: np.ndarray, size: int) -> np.ndarray:
    import cv2

    out = [cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=cv2.INTER_CUBIC) for img in batch]
    return np.stack([o if o.ndim == 3 else o[..., None] for o in out])


def swap_preview(dfm: str | os.PathLike[str], faces: Sequence[np.ndarray], out: Path, cell: int = 128,
                 caption: str = "") -> Path:
    """Write a PNG grid (one row per face: dst, swapped, mask, blended) of the `.dfm` run on `faces`."""

    from neuface.training.preview import face_grid

    if not faces:
        raise ValueError("swap_preview needs at least one face")
    x, (_, celeb, celeb_mask) = run_faces(dfm, faces)
    m = np.clip(celeb_mask, 0, 1)
    blended = x * (1 - m) + np.clip(celeb, 0, 1) * m
    columns = [_upscale(c.astype(np.float32), cell) for c in (x, np.clip(celeb, 0, 1), m, blended)]
    grid = face_grid(columns, TITLES, caption=caption)
    text = synthetic_media_text(Path(dfm).name, dfm_iteration(dfm), "swap preview")
    try:
        png = encode_png(grid, text)
    except OSError as exc:
        raise OSError(f"{out}: {exc}") from exc
    atomic_write_bytes(out, png)
    return out


def dfm_iteration(dfm: str | os.PathLike[str]) -> int | None:
    """The training iteration recorded in a `.dfm`'s provenance metadata (None when absent)."""
    import onnx

    try:
        model = onnx.load(os.fspath(dfm), load_external_data=False)
    except Exception:  # noqa: BLE001 - provenance is best effort; the preview itself is what matters
        return None
    props = {p.key: p.value for p in model.metadata_props}
    value = props.get("iteration", "")
    return int(value) if value.isdigit() else None
