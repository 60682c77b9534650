"""Where a long unattended job tells people how it is going: `run.log` (appended) and `run_summary.json`.

`run.log` gets one line per event (run start, each step's start, skip, end with counts and time, failure
with its hint, and the traceback of an unexpected error), flushed at once so `tail -f` shows live
progress. `run_summary.json` is the same information as data, rewritten atomically at every event, so a
script (or a person with `jq`) can always read a complete file.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from neuface.atomic import atomic_write_text

SUMMARY_NAME = "run_summary.json"


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


@dataclass
class StepRecord:
    """One step of a run as the summary shows it."""

    step: str  # "detect src", "train"
    stage: str
    side: str | None
    status: str = "pending"  # pending | running | done | skipped | off | failed | interrupted | not requested
    reason: str = ""
    started: float | None = None
    finished: float | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    hint: str | None = None

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["started"], d["finished"] = _iso(self.started), _iso(self.finished)
        d["seconds"] = None if self.seconds is None else round(self.seconds, 3)
        return d


@dataclass
class Journal:
    """The log file, the summary file and the run's step records."""

    root: Path
    steps: list[StepRecord]
    request: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    status: str = "running"

    @property
    def log_path(self) -> Path:
        return self.root / "run.log"

    @property
    def summary_path(self) -> Path:
        return self.root / SUMMARY_NAME

    def log(self, message: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        with open(self.log_path, "a", encoding="utf-8") as fh:
            for i, line in enumerate(message.rstrip("\n").splitlines() or [""]):
                fh.write(f"{stamp}  {line}\n" if i == 0 else f"{' ' * len(stamp)}  {line}\n")
            fh.flush()
        self.write_summary()

    def write_summary(self) -> None:
        data = {
            "workspace": str(self.root.resolve()),
            "status": self.status,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "seconds": None if self.finished is None else round(self.finished - self.started, 3),
            "request": self.request,
            "steps": [s.to_json() for s in self.steps],
        }
        atomic_write_text(self.summary_path, json.dumps(data, indent=2, default=str) + "\n")

    def finish(self, status: str) -> None:
        self.status = status
        self.finished = time.time()
        total = self.finished - self.started
        self.log(f"run {status} after {total:.1f} s")


def format_counts(counts: dict[str, Any]) -> str:
    """`faces=30 frames=30` style text for the log."""
    parts = []
    for k, v in counts.items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        parts.append(f"{k}={v}")
    return " ".join(parts)
