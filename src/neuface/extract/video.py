"""Open a video with PyAV and decode its first video stream with FFmpeg's own threads.

Frames come out in presentation order with monotonic times (pts x time base, so variable frame rate is
honoured; missing or backwards pts, as some AVI files have, are repaired). Every FFmpeg failure becomes a
one-line `VideoError` naming the file, and a stream that stops early (a truncated download) is an error,
not a silently short extraction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from neuface.errors import VideoError
from neuface.extract.orientation import Orientation, frame_orientation


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its first video stream (as stored, before rotation)."""

    path: Path
    codec: str
    width: int
    height: int
    frames: int  # 0 when the container does not say
    rate: Fraction | None
    duration: Fraction | None  # seconds


@dataclass
class DecodedFrame:
    """One decoded frame: 1-based decode index, presentation time in seconds, and the PyAV frame."""

    index: int
    time: Fraction
    frame: Any

    def orientation(self) -> Orientation:
        return frame_orientation(self.frame)

    def to_bgr(self) -> np.ndarray:
        """Upright 8-bit BGR pixels (what OpenCV writes)."""
        return self.orientation().apply(self.frame.to_ndarray(format="bgr24"))


def _reason(exc: BaseException) -> str:
    """FFmpeg's message without PyAV's errno/path decoration."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class VideoSource:
    """An opened video file; use as a context manager, iterate `frames()`, then `check_complete()`."""

    def __init__(self, path: str | os.PathLike[str]):
        import av

        self.path = Path(path)
        if not self.path.exists():
            raise VideoError(f"{self.path}: no such file")
        if not self.path.is_file():
            raise VideoError(f"{self.path}: not a file")
        try:
            self._container = av.open(os.fspath(self.path), metadata_errors="ignore")
        except (av.error.FFmpegError, OSError) as exc:
            raise VideoError(f"{self.path}: not a readable video ({_reason(exc)})") from exc
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(f"{self.path}: no video stream in this file")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"  # frame + slice threads inside FFmpeg
        self.info = self._describe()
        self.decoded = 0
        self._first: Fraction | None = None
        self._last: Fraction | None = None

    def _describe(self) -> VideoInfo:
        import av

        s = self._stream
        rate = s.average_rate or s.guessed_rate or s.base_rate
        if s.duration and s.time_base:
            duration: Fraction | None = Fraction(s.duration) * s.time_base
        elif self._container.duration:
            duration = Fraction(self._container.duration, av.time_base)
        else:
            duration = None
        return VideoInfo(path=self.path, codec=s.codec_context.name, width=s.width, height=s.height,
                         frames=int(s.frames or 0), rate=Fraction(rate) if rate else None, duration=duration)

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def _time_of(self, frame: Any) -> Fraction:
        step = 1 / self.info.rate if self.info.rate else Fraction(1, 25)
        if frame.pts is None:
            t = self._last + step if self._last is not None else Fraction(0)
        else:
            t = Fraction(frame.pts) * (frame.time_base or self._stream.time_base)
        if self._last is not None and t < self._last:
            t = self._last  # decoders can hand back out-of-order pts (packed B-frames in AVI)
        return t

    def frames(self) -> Iterator[DecodedFrame]:
        """Decode every frame in presentation order."""
        import av

        try:
            for frame in self._container.decode(self._stream):
                t = self._time_of(frame)
                if self._first is None:
                    self._first = t
                self._last = t
                self.decoded += 1
                yield DecodedFrame(self.decoded, t, frame)
        except av.error.FFmpegError as exc:
            raise VideoError(f"{self.path}: decoding failed after {self.decoded} frames ({_reason(exc)})") from exc

    def check_complete(self) -> None:
        """Raise when decoding stopped well short of what the container promised (truncated/corrupt file)."""
        info = self.info
        if self.decoded == 0:
            raise VideoError(f"{self.path}: no frame could be decoded")
        if info.frames > 0:
            # A little slack: edit lists legitimately drop a frame or two that the container counts.
            if self.decoded < info.frames - max(2, info.frames // 200):
                raise VideoError(f"{self.path}: video ends after {self.decoded} of {info.frames} frames "
                                 "(truncated or corrupt file)")
            return
        if info.duration and self._first is not None and self._last is not None:
            step = 1 / info.rate if info.rate else Fraction(0)
            span = self._last - self._first + step
            if span < info.duration - max(Fraction(1), info.duration / 20):
                raise VideoError(f"{self.path}: video ends at {float(span):.1f} s of {float(info.duration):.1f} s "
                                 "(truncated or corrupt file)")
