"""`--fps` resampling by presentation time, so variable-frame-rate video keeps real-time spacing."""

from __future__ import annotations

import math
from fractions import Fraction

# A frame stamped up to 1 ms before a target still counts as "at" it (millisecond time bases round).
TOLERANCE = Fraction(1, 1000)


def as_rate(fps: float | None) -> Fraction | None:
    """`--fps` as an exact rate (0/None = every frame)."""
    if not fps:
        return None
    if fps < 0 or not math.isfinite(fps):
        raise ValueError(f"fps must be >= 0, got {fps}")
    return Fraction(fps).limit_denominator(100_000)


class TimestampSampler:
    """Keep the first frame at or after each k/fps (k = 0, 1, 2, ...), counted from the first frame.

    A frame that covers several targets (a gap in VFR video, or fps above the video's rate) is kept
    once: duplicates are useless to face extraction.
    """

    def __init__(self, fps: float | None):
        self.rate = as_rate(fps)
        self._origin: Fraction | None = None
        self._next = 0

    def keep(self, time: Fraction) -> bool:
        if self.rate is None:
            return True
        if self._origin is None:
            self._origin = time
        position = (time - self._origin + TOLERANCE) * self.rate
        if position < self._next:
            return False
        self._next = math.floor(position) + 1
        return True


def expected_count(frames: int, duration: Fraction | None, fps: float | None) -> int | None:
    """How many frames extraction should write: all of them, or about ceil(duration * fps)."""
    rate = as_rate(fps)
    if rate is None:
        return frames or None
    if duration is None or duration <= 0:
        return None
    count = math.ceil(duration * rate)
    return min(count, frames) if frames else count
