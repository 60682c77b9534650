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


def _text(img: np.ndarray, text: str, org: tuple[int, int], color: tuple[int, int, int] = (230, 230, 230),
          scale: float = 0.45) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def face_grid(columns: Sequence[np.ndarray], titles: Sequence[str], caption: str = "") -> np.ndarray:
    """Stack per-column batches ((B,3,H,W) or (B,1,H,W) float) into rows of samples under a header row of titles."""
    grid = np.concatenate([np.concatenate([_bgr_u8(col[b]) for col in columns], axis=1)
                           for b in range(columns[0].shape[0])])
    w = grid.shape[1]
    header = np.full((24, w, 3), 32, np.uint8)
    for i, title in enumerate(titles[: len(columns)]):
        _text(header, title, (i * (w // len(columns)) + 4, 17))
    if not caption:
        return np.concatenate([header, grid])
    foot = np.full((22, w, 3), 32, np.uint8)
    _text(foot, caption, (4, 16))
    return np.concatenate([header, grid, foot])


def loss_curve(history: Sequence[Sequence[float]], width: int = 640, height: int = 240,
               labels: Sequence[str] = ("src", "dst")) -> np.ndarray:
    """A loss-history plot (one line per column, averaged into at most `width` bins), BGR uint8."""
    img = np.full((height, width, 3), 24, np.uint8)
    if not history:
        return img
    data = np.asarray(history, np.float64)
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
        _text(img, f"{labels[c] if c < len(labels) else c} {curves[-1, c]:.4f}", (left + 150 * c, 14), colors[c % 3])
    _text(img, f"{n} it  [{lo:.4f}, {hi:.4f}]", (width - 230, 14), (200, 200, 200), 0.4)
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
