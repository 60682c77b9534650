"""Helpers for the option-schema tests: see which options object a command hands its library call.

`capture` swaps the library entry point for one that records the options argument and stops the command
(exit code 0), so a test compares what flags, neuface.toml and `neuface run` produce without running the
stage itself; the stages' own tests run them for real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from neuface.errors import NeufaceError


class Captured(NeufaceError):
    """Raised by the stand-in once it has recorded its argument (the CLI exits 0 on it)."""

    exit_code = 0


def capture(monkeypatch: pytest.MonkeyPatch, target: str, kind: type | tuple[type, ...]) -> list[Any]:
    """Replace `module.attribute` with a function that records its first `kind` argument and stops."""
    module, _, name = target.rpartition(".")
    seen: list[Any] = []

    def stand_in(*args: Any, **kwargs: Any) -> None:
        seen.append(next(a for a in (*args, *kwargs.values()) if isinstance(a, kind)))
        raise Captured("captured")

    monkeypatch.setattr(f"{module}.{name}", stand_in)
    return seen


def write_toml(ws: Path, text: str) -> Path:
    """`ws/neuface.toml` holding `text` (the workspace folder is created)."""
    ws.mkdir(parents=True, exist_ok=True)
    path = ws / "neuface.toml"
    path.write_text(text)
    return path
