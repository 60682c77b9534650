"""Turning per-face metrics into DFL's order (dfl-formats.md §5.2): keep list, trash list, display scores.

Sorting uses Python's stable `sorted(..., reverse=...)` exactly as DFL does, so faces with equal scores
keep their file-name order. The histogram methods compute Bhattacharyya distances for many pairs at once
with the same formula as OpenCV's `compareHist(HISTCMP_BHATTACHARYYA)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HIST_CHUNK = 20000  # DFL chains the histogram order in independent chunks of this many faces
HIST_MAX_CHUNKS = 12
FULL_MATRIX_MAX = 4000  # faces per chunk whose distance matrix is computed at once (128 MB of float64)


@dataclass
class Plan:
    """A sort's outcome: input indices in their new order, indices to trash, and a score per input."""

    keep: list[int]
    trash: list[int]
    scores: list[Any]
    nothing_to_do: str | None = None  # a message when DFL would leave the folder as it is
    notes: list[str] = field(default_factory=list)


def by_score(values: Sequence[Any], descending: bool,
             trash_if: Callable[[Any], bool] = lambda v: v is None) -> Plan:
    """Stable sort on the value; faces whose value meets `trash_if` (default: no DFL metadata) are trashed."""
    trash = [i for i, v in enumerate(values) if trash_if(v)]
    rest = [i for i, v in enumerate(values) if not trash_if(v)]
    keep = sorted(rest, key=lambda i: values[i], reverse=descending)
    return Plan(keep, trash, list(values))


def zero_or_none(value: Any) -> bool:
    """DFL trashes blur/motion-blur faces scoring exactly 0 (which includes every non-DFL file)."""
    return value is None or value == 0


# --- Bhattacharyya distances ---------------------------------------------------------------------------

def _hist_parts(hists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Square roots and sums of histograms (..., bins), in float64 as OpenCV computes them."""
    h = np.asarray(hists, dtype=np.float64)
    return np.sqrt(h), h.sum(axis=-1)


def bhattacharyya_rows(root_a: np.ndarray, sum_a: np.ndarray, root_b: np.ndarray, sum_b: np.ndarray) -> np.ndarray:
    """Distances between histograms a (m, bins) and b (k, bins): an (m, k) matrix, OpenCV's formula.

    d = sqrt(max(1 - Σ sqrt(a·b) / sqrt(Σa · Σb), 0)), with the scale 1 when Σa·Σb is ~0.
    """
    overlap = root_a @ root_b.T
    prod = np.outer(sum_a, sum_b)
    scale = np.where(np.abs(prod) > np.finfo(np.float32).eps, 1.0 / np.sqrt(np.where(prod > 0, prod, 1.0)), 1.0)
    return np.sqrt(np.maximum(1.0 - overlap * scale, 0.0))


def _chain_distances(roots: np.ndarray, sums: np.ndarray, cur: int, rest: np.ndarray) -> np.ndarray:
    dist = np.zeros(len(rest))
    for c in range(3):  # summed channel by channel, in DFL's order (B, G, R)
        dist = dist + bhattacharyya_rows(roots[cur, c][None], sums[cur, c][None], roots[rest, c], sums[rest, c])[0]
    return dist


def hist_chain(hists: Sequence[np.ndarray]) -> Plan:
    """`hist`: greedy nearest-neighbour chain on the sum of the B, G and R histogram distances.

    Each face is followed by the most similar face not yet placed; DFL swaps that face into the next slot,
    which is reproduced here (ties go to the earliest current position). Chunked as DFL chunks. Up to
    `FULL_MATRIX_MAX` faces per chunk, all distances come from three matrix products up front.
    """
    n = len(hists)
    order = list(range(n))
    if n == 0:
        return Plan([], [], [])
    arr = np.stack([np.asarray(h, dtype=np.float32) for h in hists])  # (n, 3, 256)
    roots, sums = _hist_parts(arr)
    chunk = HIST_CHUNK
    if n // chunk > HIST_MAX_CHUNKS:
        chunk = int(n / 11.9)
    scores: list[Any] = [None] * n
    for start in range(0, n, chunk):
        part = np.array(order[start:start + chunk])
        full = None
        if len(part) <= FULL_MATRIX_MAX:
            full = np.zeros((len(part), len(part)))
            for c in range(3):
                full = full + bhattacharyya_rows(roots[part, c], sums[part, c], roots[part, c], sums[part, c])
        loc = np.arange(len(part))  # chain order as positions within the chunk
        for i in range(len(part) - 1):
            if full is not None:
                dist = full[loc[i], loc[i + 1:]]
            else:
                dist = _chain_distances(roots, sums, int(part[loc[i]]), part[loc[i + 1:]])
            j = i + 1 + int(np.argmin(dist))
            loc[i + 1], loc[j] = loc[j], loc[i + 1]
            scores[int(part[loc[i + 1]])] = float(dist[j - i - 1])
        order[start:start + chunk] = [int(v) for v in part[loc]]
        scores[int(part[loc[0]])] = 0.0
    return Plan(order, [], scores)


def dissimilarity_scores(hists: Sequence[np.ndarray], block: int = 1024) -> np.ndarray:
    """For each histogram, the sum of its Bhattacharyya distances to all the others."""
    arr = np.stack([np.asarray(h, dtype=np.float32) for h in hists])
    roots, sums = _hist_parts(arr)
    n = len(arr)
    out = np.zeros(n)
    for s in range(0, n, block):
        d = bhattacharyya_rows(roots[s:s + block], sums[s:s + block], roots, sums)
        idx = np.arange(s, min(s + block, n))
        d[idx - s, idx] = 0.0  # DFL skips i == j
        out[s:s + block] = d.sum(axis=1)
    return out


def hist_dissim(hists: Sequence[np.ndarray]) -> Plan:
    """`hist-dissim`: most dissimilar (largest summed distance to all other faces) first."""
    if not hists:
        return Plan([], [], [])
    return by_score([float(v) for v in dissimilarity_scores(hists)], descending=True, trash_if=lambda v: False)


# --- oneface ------------------------------------------------------------------------------------------

def _frame_and_index(name: str) -> tuple[int, int] | None:
    parts = Path(name).stem.split("_")
    if len(parts) != 2:
        return None
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return None


def oneface(names: Sequence[str], source_filenames: Sequence[str | None]) -> Plan:
    """`oneface`: trash every face of a frame that had more than one face; the rest keep their order.

    Files named `<frame>_<idx>` (the extractor's naming) follow DFL: a frame that has any face with idx != 0
    is a multi-face frame. Files already renamed by a sort fall back to their metadata: faces that share a
    `source_filename` come from one frame.
    """
    parsed = [_frame_and_index(n) for n in names]
    multi = {p[0] for p in parsed if p is not None and p[1] != 0}
    by_source: dict[str, int] = {}
    for p, src in zip(parsed, source_filenames, strict=True):
        if p is None and src:
            by_source[src] = by_source.get(src, 0) + 1
    trash = []
    for i, (p, src) in enumerate(zip(parsed, source_filenames, strict=True)):
        if (p is not None and p[0] in multi) or (p is None and src and by_source[src] > 1):
            trash.append(i)
    scores = [src for src in source_filenames]
    if not trash:
        return Plan([], [], scores, nothing_to_do="no frame with more than one face found")
    trashed = set(trash)
    return Plan([i for i in range(len(names)) if i not in trashed], trash, scores)
