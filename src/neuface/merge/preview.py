"""`--preview N`: N evenly spaced frames, before | after, stacked into one PNG: a quick look before a long merge."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from neuface.atomic import atomic_write_bytes
from neuface.provenance import encode_png

MAX_SIDE = 640  # each frame is shown at most this wide/high
GAP = 8


def preview_indices(total: int, n: int) -> list[int]:
    """N evenly spaced 1-based frame indices out of `total` (centred in equal segments, so not just the ends)."""
    if total <= 0 or n <= 0:
        return []
    n = min(n, total)
    return sorted({int((k + 0.5) * total / n) + 1 for k in range(n)})


def _fit(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(1.0, MAX_SIDE / max(h, w))
    return img if s == 1.0 else cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def preview_sheet(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """One BGR image: a row per pair (before left, after right) on a dark background."""
    rows = [(_fit(a), _fit(b)) for a, b in pairs]
    width = max(a.shape[1] + b.shape[1] for a, b in rows) + 3 * GAP
    height = sum(max(a.shape[0], b.shape[0]) for a, b in rows) + (len(rows) + 1) * GAP
    sheet = np.full((height, width, 3), 32, np.uint8)
    y = GAP
    for a, b in rows:
        sheet[y:y + a.shape[0], GAP:GAP + a.shape[1]] = a
        x = 2 * GAP + a.shape[1]
        sheet[y:y + b.shape[0], x:x + b.shape[1]] = b
        y += max(a.shape[0], b.shape[0]) + GAP
    return sheet


def write_preview(pairs: list[tuple[np.ndarray, np.ndarray]], path: Path,
                  text: Mapping[str, str] | None = None) -> None:
    """Atomic PNG of the before/after sheet; `text` (provenance) goes into its text chunks."""
    try:
        data = encode_png(preview_sheet(pairs), text)
    except OSError as exc:
        raise OSError(f"{path}: OpenCV could not encode the preview") from exc
    atomic_write_bytes(path, data)
