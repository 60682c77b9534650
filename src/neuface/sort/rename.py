"""Crash-safe output step: trash moves and the rename into the new order, driven by a journal.

DFL empties the trash folder and renames in two passes with nothing written down, so an interruption can
leave a folder half renamed (or faces deleted). Here every move is planned first and written to a journal
beside the faces (atomically), then done in three phases, each a series of single renames:

0. rejects move into `aligned_trash/`, keeping their names (a clash with a face already there gets `_1`,
   `_2`, ... before the extension; nothing in the trash is ever deleted or overwritten);
1. every kept face moves to a hidden temporary name (`.nfsort-<token>-<n>.jpg`);
2. every temporary name becomes its final name (`00000.jpg`, `00001.jpg`, ...).

The journal records the current phase. A rename either happened or not, so after a crash each face is at
exactly one of its journal names; `recover` (run automatically before the next sort) rolls the journal
forward to the end. Nothing is ever deleted.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from neuface.atomic import atomic_write_text, fsync_dir
from neuface.errors import UsageError

JOURNAL_NAME = ".neuface-sort-journal.json"
TMP_PREFIX = ".nfsort-"


@dataclass
class RenameReport:
    kept: int
    trashed: int
    trash_names: list[tuple[str, str]]  # (old name, name in the trash folder) where they differ


def final_name(index: int, name: str) -> str:
    """DFL's output name: five-digit position plus the file's own extension."""
    return f"{index:05d}{Path(name).suffix}"


def _free_trash_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    stem, suffix = Path(name).stem, Path(name).suffix
    k = 1
    while f"{stem}_{k}{suffix}" in taken:
        k += 1
    return f"{stem}_{k}{suffix}"


def plan_moves(aligned: Path, trash_dir: Path, keep: Sequence[str], trash: Sequence[str]) -> dict:
    """The journal for moving `trash` into `trash_dir` and renaming `keep` into order (nothing done yet)."""
    token = secrets.token_hex(4)
    present = {e.name for e in os.scandir(trash_dir)} if trash_dir.is_dir() else set()
    trash_moves = []
    for name in trash:
        dst = _free_trash_name(name, present)
        present.add(dst)
        trash_moves.append([name, dst])
    keep_moves = [[name, f"{TMP_PREFIX}{token}-{i:05d}{Path(name).suffix}", final_name(i, name)]
                  for i, name in enumerate(keep)]
    moving = set(keep) | set(trash)
    in_folder = {e.name for e in os.scandir(aligned)}
    for _, tmp, dst in keep_moves:
        if dst in in_folder and dst not in moving:
            raise UsageError(f"{aligned / dst}: exists and is not one of the sorted faces; move it away first")
        if tmp in in_folder:
            raise UsageError(f"{aligned / tmp}: leftover temporary file; move it away first")
    return {"version": 1, "phase": 0, "trash_dir": str(trash_dir), "trash": trash_moves, "keep": keep_moves}


def _write_journal(aligned: Path, journal: dict) -> None:
    atomic_write_text(aligned / JOURNAL_NAME, json.dumps(journal, indent=0))


def _move(src: Path, dst: Path) -> None:
    """One rename that never overwrites."""
    if dst.exists():
        raise UsageError(f"{dst}: already exists; refusing to overwrite it (sort journal left in place)")
    os.rename(src, dst)


def _run_phase(aligned: Path, journal: dict, phase: int, on_move: Callable[[int], None] | None) -> None:
    """Finish one phase from whatever state a previous, interrupted run left."""
    trash_dir = Path(journal["trash_dir"])
    if phase == 0:
        if journal["trash"]:
            trash_dir.mkdir(parents=True, exist_ok=True)
        pairs = [(aligned / s, trash_dir / d) for s, d in journal["trash"]]
    elif phase == 1:
        pairs = [(aligned / s, aligned / t) for s, t, _ in journal["keep"]]
    else:
        pairs = [(aligned / t, aligned / d) for _, t, d in journal["keep"]]
    for src, dst in pairs:
        # Done already (or, in phase 0 only, the source name may since hold a kept face: the journal phase
        # says trash moves were not finished, so a present source is still the face to trash).
        if src.exists() and not (phase == 0 and dst.exists()):
            _move(src, dst)
        if on_move:
            on_move(1)
    fsync_dir(aligned)
    if phase == 0 and journal["trash"]:
        fsync_dir(trash_dir)
    journal["phase"] = phase + 1
    if phase < 2:
        _write_journal(aligned, journal)


def execute(aligned: Path, journal: dict, on_move: Callable[[int], None] | None = None) -> RenameReport:
    """Write the journal, then run (or finish) its phases; the journal is removed at the end."""
    if not (aligned / JOURNAL_NAME).exists():
        _write_journal(aligned, journal)
    for phase in range(int(journal["phase"]), 3):
        _run_phase(aligned, journal, phase, on_move)
    (aligned / JOURNAL_NAME).unlink()
    fsync_dir(aligned)
    renamed = [(s, d) for s, d in journal["trash"] if s != d]
    return RenameReport(len(journal["keep"]), len(journal["trash"]), renamed)


def pending_journal(aligned: Path) -> dict | None:
    """The journal of an interrupted sort in `aligned`, if any."""
    path = aligned / JOURNAL_NAME
    if not path.is_file():
        return None
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        if journal.get("version") != 1 or "keep" not in journal or "trash" not in journal:
            raise ValueError("unknown layout")
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable sort journal ({exc}); fix or remove it by hand") from exc
    return journal


def recover(aligned: Path) -> RenameReport | None:
    """Finish an interrupted sort from its journal; None when there was none."""
    journal = pending_journal(aligned)
    if journal is None:
        return None
    return execute(aligned, journal)
