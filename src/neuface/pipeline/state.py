"""What `neuface run` remembers between runs: one stamp per finished step, and file-age helpers.

A stamp records when a step finished and the options that shape its output. A step is up to date when
its outputs exist, its stamp's options equal today's, no earlier step of its chain finished after it, and
no input file changed after it (make's rule, with the stamp as the target's time). Files that were not
made by `neuface run` (a DFL faceset, frames extracted by hand) have no stamp; for them the files' own
times decide.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neuface.atomic import atomic_write_text
from neuface.console import warn
from neuface.workspace import RUN_STATE_NAME

STATE_NAME = RUN_STATE_NAME
STATE_VERSION = 1


@dataclass
class Stamp:
    """One finished step: its options (JSON values) and when it finished (epoch seconds)."""

    options: dict[str, Any]
    finished: float
    counts: dict[str, Any] = field(default_factory=dict)


class RunState:
    """The stamps of a workspace, saved atomically after every finished step."""

    def __init__(self, path: Path, stamps: dict[str, Stamp] | None = None):
        self.path = path
        self.stamps = stamps or {}

    @classmethod
    def load(cls, workspace_root: Path) -> RunState:
        """Read the state file; a damaged one is set aside with a warning (everything then re-checks by files)."""
        path = workspace_root / STATE_NAME
        if not path.is_file():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            stamps = {k: Stamp(dict(v["options"]), float(v["finished"]), dict(v.get("counts", {})))
                      for k, v in data["stamps"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            warn(f"{path}: unreadable ({exc}); treating every step as not run by `neuface run` before")
            return cls(path)
        return cls(path, stamps)

    def get(self, key: str) -> Stamp | None:
        return self.stamps.get(key)

    def record(self, key: str, options: Mapping[str, Any], counts: Mapping[str, Any] | None = None,
               finished: float | None = None) -> Stamp:
        stamp = Stamp(dict(options), finished if finished is not None else time.time(), dict(counts or {}))
        self.stamps[key] = stamp
        self.save()
        return stamp

    def save(self) -> None:
        data = {"version": STATE_VERSION, "stamps": {k: asdict(v) for k, v in sorted(self.stamps.items())}}
        atomic_write_text(self.path, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")

    def latest(self, keys: Iterable[str]) -> float:
        """When the most recent of these steps finished (0 when none has a stamp)."""
        return max((s.finished for k in keys if (s := self.stamps.get(k)) is not None), default=0.0)


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def newest(paths: Iterable[Path]) -> float:
    return max((mtime(p) for p in paths), default=0.0)


def oldest(paths: Iterable[Path]) -> float:
    times = [t for p in paths if (t := mtime(p))]
    return min(times, default=0.0)


def changed_options(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """`key old -> new` for every option that differs (for the log: why a step runs again)."""
    keys = sorted(set(old) | set(new))
    return [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]

