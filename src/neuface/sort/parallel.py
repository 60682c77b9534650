"""Compute one metric for every face on all cores (a process pool), with a progress bar.

Metrics are pure functions of one file, so faces are handed out in small chunks to `spawn`ed workers
(fork is unsafe once OpenCV's or rich's threads are running) and results come back in input order. Each
worker pins OpenCV to one thread so the pool, not OpenCV, decides how many cores are busy.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from neuface.console import RateTracker, make_progress

# Below this many faces per worker, start-up costs more than it saves.
MIN_FACES_PER_WORKER = 8
# Faces measured in this process first, to estimate the cost of the rest.
PROBE_FACES = 16
# A pool of spawned workers takes about a second to start (interpreter, numpy, OpenCV): only worth it when
# the remaining work would take longer than this in one process.
POOL_WORTH_SECONDS = 3.0


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


Advance = Callable[[int], None]


@contextlib.contextmanager
def progress_bars(unit: str = "faces") -> Iterator[Callable[[str, int], Advance]]:
    """Yield `bar(description, total)`, which adds a bar (count, rate in `unit`/s) and returns its advance."""
    with make_progress(unit) as progress:
        def bar(description: str, total: int) -> Advance:
            task = progress.add_task(description, total=total, rate="")
            rate, done = RateTracker(unit), [0]

            def advance(k: int) -> None:
                done[0] += k
                progress.update(task, advance=k, rate=rate.text(done[0]))
            return advance

        yield bar


def init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def measure_chunk(method_key: str, paths: Sequence[str]) -> list[Any]:
    """Worker entry point: the method's metric for each path, in order."""
    from neuface.sort.faces import Face
    from neuface.sort.methods import get_method

    measure = get_method(method_key).measure
    assert measure is not None
    return [measure(Face(Path(p))) for p in paths]


def _chunk_size(n: int, jobs: int) -> int:
    return max(1, min(32, n // (jobs * 4) or 1))


def _run_pool(method_key: str, chunks: list[list[str]], jobs: int, advance: Advance) -> list[list[Any]]:
    results: list[list[Any] | None] = [None] * len(chunks)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=init_worker) as pool:
        pending: dict[Future[list[Any]], int] = {}
        try:
            for ci, chunk in enumerate(chunks):
                pending[pool.submit(measure_chunk, method_key, chunk)] = ci
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    ci = pending.pop(fut)
                    results[ci] = fut.result()
                    advance(len(chunks[ci]))
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return [r for r in results if r is not None]


def measure_all(method_key: str, paths: Sequence[Path], jobs: int | None = None,
                description: str = "measuring", on_progress: Callable[[int], None] | None = None,
                pool_worth_seconds: float = POOL_WORTH_SECONDS) -> list[Any]:
    """The metric of `method_key` for every path, on up to `jobs` processes (1 = in this process).

    The first faces are measured here; when the rest would take less than `pool_worth_seconds` (metadata-only
    metrics, small sets), they are measured here too, since starting worker processes would cost more.
    """
    jobs = jobs or default_jobs()
    n = len(paths)
    strs = [str(p) for p in paths]
    if n == 0:
        return []
    jobs = min(jobs, max(1, n // MIN_FACES_PER_WORKER))
    probe = min(n, PROBE_FACES)
    out: list[Any] = []
    with progress_bars("faces") as bars:
        bar = bars(description, n)

        def advance(k: int) -> None:
            bar(k)
            if on_progress:
                on_progress(k)

        t0 = time.perf_counter()
        out.extend(measure_chunk(method_key, strs[:probe]))
        advance(probe)
        rest = strs[probe:]
        expected = (time.perf_counter() - t0) / probe * len(rest)
        if jobs == 1 or expected < pool_worth_seconds:
            size = _chunk_size(len(rest), 1)
            for i in range(0, len(rest), size):
                out.extend(measure_chunk(method_key, rest[i:i + size]))
                advance(len(rest[i:i + size]))
        else:
            size = _chunk_size(len(rest), jobs)
            for part in _run_pool(method_key, [rest[i:i + size] for i in range(0, len(rest), size)], jobs, advance):
                out.extend(part)
    return out
