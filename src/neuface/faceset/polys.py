"""XSeg-editor polygons (`seg_ie_polys`) in DFL's stored form.

DFL stores `{'polys': [{'type': 0|1, 'pts': float32 (K,2)}, ...]}` (older files: a list of
`(type, pts)` pairs) and, on load, puts every INCLUDE polygon before every EXCLUDE one so that
excludes always win when rasterised. faceset.pak sample tables hold that reordered form.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EXCLUDE = 0
INCLUDE = 1


def _as_float32(pts: Any) -> np.ndarray:
    """float32 points, keeping an existing float32 array as the same object (pickles it as DFL does)."""
    if isinstance(pts, np.ndarray) and pts.dtype == np.float32:
        return pts
    return np.asarray(pts, dtype=np.float32)


def load_polys(raw: Any) -> list[tuple[int, np.ndarray]]:
    """`(type, float32 (K,2) points)` pairs, includes first, from either stored form (None → [])."""
    if raw is None:
        return []
    items = raw.get("polys", []) if isinstance(raw, dict) else raw
    if not isinstance(items, (list, tuple)):
        raise ValueError("seg_ie_polys: 'polys' is not a list")
    polys: list[tuple[int, np.ndarray]] = []
    for item in items:
        if isinstance(item, dict):
            kind, pts = item.get("type"), item.get("pts")
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            kind, pts = item
        else:
            raise ValueError("seg_ie_polys: polygon is neither a dict nor a (type, pts) pair")
        arr = _as_float32(pts if pts is not None else np.empty((0, 2)))
        if arr.size == 0:
            arr = arr.reshape(0, 2)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"seg_ie_polys: polygon points have shape {arr.shape}, expected (K, 2)")
        polys.append((int(kind), arr))
    return [p for p in polys if p[0] == INCLUDE] + [p for p in polys if p[0] != INCLUDE]


def normalize_polys(raw: Any) -> dict[str, list[dict[str, Any]]]:
    """Any stored form → DFL's current form, includes first (what a pak sample table holds)."""
    return {"polys": [{"type": int(kind), "pts": pts} for kind, pts in load_polys(raw)]}
