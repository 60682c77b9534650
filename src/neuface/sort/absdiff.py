"""`absdiff`: chain faces by the total absolute pixel difference (DFL's `sort_by_absdiff`, §5.2).

DFL fills an n×n matrix of Σ|img_i − img_j| on the GPU in float32. Here the sums are exact integers
(OpenCV's L1 norm on uint8), computed by worker processes that share the decoded faces through one
memory-mapped `.npy` file in the temp folder (DFL also keeps its matrix in a temp file). The chain
starts at the first file and always moves to the unused face nearest to (or, with `similar=False`,
farthest from) the current one; ties go to the earlier file.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from neuface.errors import FacesetFormatError
from neuface.sort.faces import read_image
from neuface.sort.order import Plan
from neuface.sort.parallel import POOL_WORTH_SECONDS, Advance, default_jobs, init_worker


def load_stack(paths: Sequence[Path], out: Path, jobs: int, on_done: Advance | None = None) -> tuple[int, ...]:
    """Decode every image into one (n, h, w, 3) uint8 `.npy` memmap at `out`; all must share a size."""
    first = read_image(paths[0])
    stack = np.lib.format.open_memmap(out, mode="w+", dtype=np.uint8, shape=(len(paths), *first.shape))

    def load(i: int) -> None:
        img = first if i == 0 else read_image(paths[i])
        if img.shape != first.shape:
            raise FacesetFormatError(f"{paths[i]}: size {img.shape[1]}x{img.shape[0]} differs from "
                                     f"{first.shape[1]}x{first.shape[0]} ({paths[0].name}); absdiff needs one size")
        stack[i] = img

    with ThreadPoolExecutor(max_workers=jobs) as pool:  # imdecode releases the GIL
        for _ in pool.map(load, range(len(paths))):
            if on_done:
                on_done(1)
    stack.flush()
    return stack.shape


def distance_rows(stack_file: str, rows: Sequence[int]) -> list[tuple[int, np.ndarray]]:
    """Worker: for each row i, exact Σ|img_i − img_j| for every j > i."""
    stack = np.load(stack_file, mmap_mode="r")
    out = []
    for i in rows:
        a = np.ascontiguousarray(stack[i])
        out.append((i, np.array([cv2.norm(a, stack[j], cv2.NORM_L1) for j in range(i + 1, len(stack))],
                                dtype=np.float64)))
    return out


def _balanced_tasks(rows: list[int], per_task: int) -> list[list[int]]:
    """Row i costs n-1-i comparisons: pair cheap and expensive rows so tasks cost about the same."""
    order = []
    lo, hi = 0, len(rows) - 1
    while lo <= hi:
        order.append(rows[lo])
        if hi != lo:
            order.append(rows[hi])
        lo, hi = lo + 1, hi - 1
    return [order[k:k + per_task] for k in range(0, len(order), per_task)]


def distance_matrix(stack_file: Path, n: int, jobs: int, on_row: Advance | None = None,
                    pool_worth_seconds: float = POOL_WORTH_SECONDS) -> np.ndarray:
    """Symmetric matrix of exact Σ|a − b| over all pixels and channels.

    Row 0 (the costliest) is computed here and times the rest: about n/2 such rows remain. Only when that
    exceeds `pool_worth_seconds` are the other rows spread over `jobs` worker processes.
    """
    dist = np.zeros((n, n), dtype=np.float64)  # sums stay below 2**53, so float64 is exact

    def store(result: list[tuple[int, np.ndarray]]) -> None:
        for i, row in result:
            dist[i, i + 1:] = row
            dist[i + 1:, i] = row
        if on_row:
            on_row(len(result))

    if n == 0:
        return dist
    t0 = time.perf_counter()
    store(distance_rows(str(stack_file), [0]))
    expected = (time.perf_counter() - t0) * (n - 1) / 2
    rows = list(range(1, n))
    if jobs == 1 or expected < pool_worth_seconds:
        store(distance_rows(str(stack_file), rows))
        return dist
    tasks = _balanced_tasks(rows, max(2, min(64, n // (jobs * 8) or 2)))
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=init_worker) as pool:
        for result in pool.map(distance_rows, [str(stack_file)] * len(tasks), tasks):
            store(result)
    return dist


def chain(dist: np.ndarray, similar: bool = True) -> list[int]:
    """Greedy chain from index 0 through the nearest (or farthest) unused index."""
    n = len(dist)
    if n == 0:
        return []
    used = np.zeros(n, bool)
    order = [0]
    used[0] = True
    values = dist
    for _ in range(n - 1):
        row = values[order[-1]].copy()
        if similar:
            row[used] = np.inf
            nxt = int(np.argmin(row))
        else:
            row[used] = -np.inf
            nxt = int(np.argmax(row))
        used[nxt] = True
        order.append(nxt)
    return order


def sort_absdiff(paths: Sequence[Path], similar: bool = True, jobs: int | None = None,
                 progress: Callable[[str, int], Callable[[int], None]] | None = None) -> Plan:
    """Plan for `absdiff`; `progress(description, total)` returns an advance callback."""
    if not paths:
        return Plan([], [], [])
    jobs = jobs or default_jobs()
    with tempfile.TemporaryDirectory(prefix="neuface-absdiff-") as tmp:
        stack_file = Path(tmp) / "faces.npy"
        load_stack(paths, stack_file, jobs, progress("loading", len(paths)) if progress else None)
        dist = distance_matrix(stack_file, len(paths), jobs, progress("absdiff", len(paths)) if progress else None)
    order = chain(dist, similar)
    scores: list[float | None] = [0.0] * len(paths)
    for prev, cur in zip(order, order[1:], strict=False):
        scores[cur] = float(dist[prev, cur])
    return Plan(order, [], scores)
