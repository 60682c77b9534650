"""What makes the training loop act between two steps: SIGINT/SIGTERM (stop), a minutes timer (save, preview)
and DFL's autobackup hours (backup)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop finishes the current step, saves and returns."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __bool__(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else ""

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        def handler(signum: int, _frame: Any) -> None:
            if self.signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now (the last save stays intact)
            self.signal = signum

        try:
            old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not the main thread: no signal handling
            old = {}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


class Timer:
    """`due()` once every `minutes` (never when minutes <= 0)."""

    def __init__(self, minutes: float):
        self.period = minutes * 60.0
        self.last = time.monotonic()

    def due(self) -> bool:
        if self.period <= 0 or time.monotonic() - self.last < self.period:
            return False
        self.last = time.monotonic()
        return True


class AutobackupClock:
    """DFL's `autobackup_hour`: a backup each time N more hours of this session have passed (checked at saves)."""

    def __init__(self, hours: int):
        self.hours = int(hours or 0)
        self.start = time.time()

    def due(self) -> bool:
        diff = int((time.time() - self.start) // 3600)
        if self.hours <= 0 or diff <= 0 or diff % self.hours:
            return False
        self.start += self.hours * 3600
        return True
