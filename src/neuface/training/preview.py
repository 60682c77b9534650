"""Training previews for every trainer: a face grid (one column per image kind) and a loss-curve image, as PNG.

Files (inside the model's history folder): `preview.png` (always the latest grid), `loss.png`, and with DFL's
`write_preview_history` option `<iter:07d>.png` every preview interval. All written atomically so a viewer
never sees half a file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from neuface.atomic import atomic_write_bytes
from neuface.provenance import encode_png


def _bgr_u8(img: np.ndarray) -> np.ndarray:
    """(3,H,W) or (H,W,3) float [0,1] -> (H,W,3) uint8."""
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = img.transpose(1, 2, 0)
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, -1)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def face_grid(columns: Sequence[np.ndarray], titles: Sequence[str], caption: str = "") -> np.ndarray:
    """Stack per-column batches (each (B,3,H,W) float) into rows of samples, with a header row of titles."""
    rows = []
    batch = columns[0].shape[0]
    for b in range(batch):
        rows.append(np.concatenate([_bgr_u8(col[b]) for col in columns], axis=1))
    grid = np.concatenate(rows, axis=0)
    w = grid.shape[1]
    cell = w // len(columns)
    header = np.full((24, w, 3), 32, np.uint8)
    for i, title in enumerate(titles[: len(columns)]):
        cv2.putText(header, title, (i * cell + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (230, 230, 230), 1, cv2.LINE_AA)
    out = np.concatenate([header, grid], axis=0)
    if caption:
        foot = np.full((22, w, 3), 32, np.uint8)
        cv2.putText(foot, caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (230, 230, 230), 1, cv2.LINE_AA)
        out = np.concatenate([out, foot], axis=0)
    return out


def loss_curve(history: Sequence[Sequence[float]], width: int = 640, height: int = 240,
               labels: Sequence[str] = ("src", "dst")) -> np.ndarray:
    """A loss-history plot (one line per column, averaged into at most `width` bins), BGR uint8."""
    img = np.full((height, width, 3), 24, np.uint8)
    if not history:
        return img
    data = np.asarray(history, np.float64)
    if data.ndim == 1:
        data = data[:, None]
    n = len(data)
    bins = min(n, width - 20)
    edges = np.linspace(0, n, bins + 1).astype(int)
    curves = np.stack([data[a:max(b, a + 1)].mean(0) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    finite = curves[np.isfinite(curves)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1e-6
    colors = [(255, 180, 60), (60, 180, 255), (120, 255, 120)]
    top, bottom, left = 20, height - 10, 10
    xs = left + np.arange(bins) * (width - 2 * left) / max(bins - 1, 1)
    for c in range(curves.shape[1]):
        ys = bottom - (curves[:, c] - lo) / (hi - lo) * (bottom - top)
        pts = np.stack([xs, np.nan_to_num(ys, nan=bottom)], -1).astype(np.int32)
        cv2.polylines(img, [pts], False, colors[c % 3], 1, cv2.LINE_AA)
        label = labels[c] if c < len(labels) else str(c)
        cv2.putText(img, f"{label} {curves[-1, c]:.4f}", (left + 150 * c, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colors[c % 3], 1, cv2.LINE_AA)
    cv2.putText(img, f"{n} it  [{lo:.4f}, {hi:.4f}]", (width - 230, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (200, 200, 200), 1, cv2.LINE_AA)
    return img


def write_png(path: Path, img: np.ndarray, text: Mapping[str, str] | None = None) -> None:
    """Atomic PNG write; `text` (provenance) goes into the file's text chunks."""
    try:
        data = encode_png(img, text)
    except OSError as exc:
        raise OSError(f"{path}: {exc}") from exc
    atomic_write_bytes(path, data)


def write_previews(history_dir: Path, iteration: int, grid: np.ndarray, loss_history: Sequence[Sequence[float]],
                   keep_history: bool = True, labels: Sequence[str] = ("src", "dst"),
                   provenance: Mapping[str, str] | None = None) -> None:
    """`preview.png`, `loss.png` and, only if `keep_history` (DFL's write_preview_history), `<iter:07d>.png`.

    `provenance` marks the grids (they show swapped faces) as synthetic media in their PNG text chunks.
    """
    history_dir.mkdir(parents=True, exist_ok=True)
    write_png(history_dir / "preview.png", grid, provenance)
    write_png(history_dir / "loss.png", loss_curve(loss_history, labels=labels))
    if keep_history:
        write_png(history_dir / f"{iteration:07d}.png", grid, provenance)
