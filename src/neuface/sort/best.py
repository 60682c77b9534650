"""`final` / `final-fast`: pick about `target` faces spread over head poses (DFL's `sort_best`, §5.4).

Faces are binned by yaw (128 bins), the sharpest 10×per-bin of each bin survive, each yaw bin is split into
pitch bins, faces in a pitch bin are ranked by how different their histogram is from the bin's others, and
faces are taken round-robin across the pitch bins. Everything not picked goes to the trash.

DFL's rule keeps round(target/128) faces per yaw bin, so a target below 65 keeps nothing and one below 128
keeps up to 128. neuface uses it from 128 on; below that (`sort_few`) the faces, ordered by yaw, are cut into
`target` groups of (nearly) equal size and each group gives one face by the same rule as a DFL bin with one
face to pick (of its 10 sharpest, the one whose histogram differs most from the others'): exactly `target`
faces (or all of them, when there are fewer), spread over the yaw range the faceset has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from neuface.errors import UsageError
from neuface.sort.order import Plan, dissimilarity_scores

YAW_BINS = 128
YAW_RANGE = 1.2  # DFL's comment: 2D-FAN yaw stays within ±1.2 rad
DEFAULT_TARGET = 2000


def _bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """DFL's binning: [e_g, e_g+1), the first bin also below e_1, the last bin everything >= its edge."""
    idx = np.searchsorted(edges, values, side="right") - 1
    return np.clip(idx, 0, len(edges) - 1)


def per_bin(target: int, yaw_counts: Sequence[int]) -> int:
    """Faces to pick per yaw bin: round(target/128), plus the shortfall of sparse bins spread evenly."""
    per = round(target / YAW_BINS)
    lack = sum(max(per - c, 0) for c in yaw_counts)
    return per + lack // YAW_BINS


def check_target(target: int) -> None:
    """Refuse a target that keeps no face (checked before any face is measured)."""
    if target < 1:
        raise UsageError(f"--target {target}: keep at least 1 face")


def _most_dissimilar_of_sharpest(members: list[int], values: Sequence) -> int:
    """One face of a yaw bin with one face to pick (DFL: per = 1, one pitch bin): of the 10 sharpest, the one
    whose histogram is the most different from the others' (the sharpest first on ties)."""
    top = sorted(members, key=lambda i: values[i][0], reverse=True)[:10]
    if len(top) == 1:
        return top[0]
    dissim = dissimilarity_scores([values[i][3] for i in top])
    return top[int(np.argmax(dissim))]


def sort_few(values: Sequence[tuple[float, float, float, np.ndarray] | None], target: int) -> Plan:
    """Plan for `final` with a target below 128: `target` equal-count yaw groups, one face from each."""
    check_target(target)
    n = len(values)
    scores: list[float | None] = [None if v is None else v[0] for v in values]
    posed = [i for i in range(n) if values[i] is not None and not math.isnan(values[i][1])]
    by_yaw = sorted(posed, key=lambda i: -values[i][1])  # DFL's order: by -yaw (stable: file order on ties)
    groups = [g.tolist() for g in np.array_split(np.array(by_yaw, dtype=np.int64), min(target, len(by_yaw)))
              if len(g)] if by_yaw else []
    picked = [_most_dissimilar_of_sharpest(g, values) for g in groups]
    chosen = set(picked)
    return Plan(picked, [i for i in range(n) if i not in chosen], scores)


def sort_best(values: Sequence[tuple[float, float, float, np.ndarray] | None], target: int) -> Plan:
    """Plan for `final`: `values[i]` is (sharpness, yaw, pitch, grey histogram), None for non-DFL files."""
    check_target(target)
    if target < YAW_BINS:
        return sort_few(values, target)
    n = len(values)
    dfl = [i for i in range(n) if values[i] is not None]
    scores: list[float | None] = [None if v is None else v[0] for v in values]
    yaw_edges = np.linspace(-YAW_RANGE, YAW_RANGE, YAW_BINS)
    yaws = np.array([-values[i][1] for i in dfl], dtype=np.float64)  # DFL bins on -yaw
    yaw_bin = _bin_index(yaws, yaw_edges) if dfl else np.zeros(0, int)
    bins: list[list[int]] = [[] for _ in range(YAW_BINS)]
    for i, b in zip(dfl, yaw_bin, strict=True):
        if not math.isnan(values[i][1]):
            bins[b].append(i)
    per = per_bin(target, [len(b) for b in bins])
    keep_sharp = per * 10
    pitch_edges = np.linspace(-math.pi / 2, math.pi / 2, per)
    picked: list[int] = []
    for members in bins:
        if not members:
            continue
        members = sorted(members, key=lambda i: values[i][0], reverse=True)[:keep_sharp]
        pitch_bin = _bin_index(np.array([values[i][2] for i in members]), pitch_edges)
        pitch_lists: list[list[int]] = [[] for _ in range(per)]
        for i, pb in zip(members, pitch_bin, strict=True):
            pitch_lists[pb].append(i)
        for pb, lst in enumerate(pitch_lists):
            if len(lst) > 1:
                dissim = dissimilarity_scores([values[i][3] for i in lst])
                rank = {i: float(d) for i, d in zip(lst, dissim, strict=True)}
                pitch_lists[pb] = sorted(lst, key=lambda i: rank[i], reverse=True)
        picked.extend(_round_robin(pitch_lists, per))
    chosen = set(picked)
    trash = [i for i in range(n) if i not in chosen]
    return Plan(picked, trash, scores)


def _round_robin(lists: list[list[int]], count: int) -> list[int]:
    """Take the head of each non-empty list in turn until `count` are taken or all are empty."""
    queues = [list(lst) for lst in lists]
    out: list[int] = []
    while len(out) < count:
        taken = len(out)
        for q in queues:
            if q:
                out.append(q.pop(0))
                if len(out) == count:
                    break
        if len(out) == taken:
            break
    return out
