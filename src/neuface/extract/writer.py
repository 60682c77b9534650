"""Encode and write frames on a thread pool: OpenCV's encoders release the GIL, so PNG (the slow part of
extraction) keeps every core busy while the main thread decodes."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from neuface.extract.formats import JPEG_QUALITY, PNG_COMPRESSION, ImageFormat, frame_name
from neuface.provenance import add_png_text


def default_workers() -> int:
    """One encoder per usable core (decoding runs in FFmpeg's threads alongside)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def encode(image: np.ndarray, fmt: ImageFormat) -> bytes:
    """PNG (lossless, fast zlib level) or JPEG at DFL's quality 95."""
    import cv2

    if fmt is ImageFormat.jpg:
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    else:
        params = [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION]
    ok, buf = cv2.imencode(fmt.suffix, image, params)
    if not ok:
        raise OSError(f"OpenCV could not encode a {image.shape} frame as {fmt.value}")
    return buf.tobytes()


def _write(path: Path, image: np.ndarray, fmt: ImageFormat, text: Mapping[str, str] | None = None) -> None:
    data = encode(image, fmt)
    if text and fmt is ImageFormat.png:
        data = add_png_text(data, text)
    with open(path, "wb") as fh:
        fh.write(data)


class FrameWriter:
    """Writes `00001.png`, `00002.png`, ... into `folder` on `workers` threads, with few frames in flight.

    `completed` counts files fully written; a failed write re-raises its error from `submit`/`finish`.
    Use as a context manager: leaving it (also on error) waits for, or cancels, the frames in flight so
    no thread writes into a folder that is being cleaned up.
    """

    def __init__(self, folder: Path, fmt: ImageFormat, workers: int | None = None,
                 text: Mapping[str, str] | None = None):
        self.folder = folder
        self.fmt = fmt
        self.text = dict(text) if text else None  # PNG text chunks (merge's provenance), written on every frame
        self.workers = workers or default_workers()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="neuface-write")
        self._pending: deque[Future[None]] = deque()
        self._max_pending = 2 * self.workers + 2
        self.submitted = 0
        self.completed = 0

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)

    def _reap(self, block: bool) -> None:
        """Collect finished writes (raising their errors); with `block`, first wait for the oldest."""
        while self._pending and (block or self._pending[0].done()):
            self._pending.popleft().result()
            self.completed += 1
            block = False

    def submit(self, image: np.ndarray) -> None:
        """Queue the next frame (waits while too many are in flight, bounding memory)."""
        self.submitted += 1
        path = self.folder / frame_name(self.submitted, self.fmt)
        self._pending.append(self._pool.submit(_write, path, image, self.fmt, self.text))
        self._reap(block=len(self._pending) >= self._max_pending)

    def finish(self) -> int:
        """Wait for every queued frame; returns how many were written."""
        while self._pending:
            self._pending.popleft().result()
            self.completed += 1
        return self.completed
