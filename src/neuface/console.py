"""Terminal output shared by every command: one rich console on stderr, verbosity, progress bars."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

console = Console(stderr=True, highlight=False)
_verbosity = 0  # -1 quiet, 0 normal, 1+ verbose


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    return _verbosity


def info(msg: str, *, style: str | None = None) -> None:
    """Normal progress messages (hidden by -q), printed literally: paths and `[train]`-style table names
    are not rich markup. `style` (e.g. "dim") styles the whole message."""
    if _verbosity >= 0:
        console.print(escape(msg), style=style)


def detail(msg: str) -> None:
    """Extra detail (shown with -v), printed literally and dimmed."""
    if _verbosity >= 1:
        console.print(escape(msg), style="dim")


def warn(msg: str) -> None:
    """Warnings are always shown."""
    console.print(f"[yellow]warning:[/yellow] {escape(msg)}", soft_wrap=True)


def error(msg: str) -> None:
    console.print(f"[red]error:[/red] {escape(msg)}", soft_wrap=True)


def make_progress(unit: str = "it") -> Progress:
    """A progress bar with count, rate in `unit`/s, elapsed and ETA; silent with -q or no terminal."""
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),  # descriptions name files
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=_verbosity < 0,
        transient=False,
    )


class RateTracker:
    """Formats `N unit/s` for the progress bar's rate field."""

    def __init__(self, unit: str):
        import time

        self.unit = unit
        self._t0 = time.perf_counter()
        self._time = time.perf_counter

    def text(self, done: int) -> str:
        dt = max(self._time() - self._t0, 1e-9)
        return f"{done / dt:.1f} {self.unit}/s"


def track(items: Iterable[T], total: int | None, description: str, unit: str = "it") -> Iterator[T]:
    """Iterate with a progress bar showing `unit`/s."""
    rate = RateTracker(unit)
    with make_progress(unit) as progress:
        task = progress.add_task(description, total=total, rate="")
        for i, item in enumerate(items, 1):
            yield item
            progress.update(task, advance=1, rate=rate.text(i))


def stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, AttributeError):
        return False
