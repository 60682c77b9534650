"""`neuface clean` (DFL clear_workspace): empty a workspace and recreate its empty layout.

By default everything is first moved to `workspace_backup_<timestamp>/` beside the workspace (renames, so
it is fast and nothing is copied); `backup=False` deletes instead. Only folders that look like a
neuface/DFL workspace are touched, and symlinks inside are removed as links: their targets, which may
lie outside the workspace, are never entered. `neuface.toml` holds settings, not data: by default the fresh
workspace keeps it (copied back from the backup, or left in place with `backup=False`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from neuface.errors import UsageError
from neuface.optionspec import StageOptions, option
from neuface.workspace import Workspace

BACKUP_PREFIX = "workspace_backup_"


@dataclass(frozen=True)
class CleanOptions(StageOptions):
    """`neuface clean`'s options (the CLI and a `[clean]` table)."""

    STAGE = "clean"

    yes: bool = option(False, flags=("--yes", "-y"), help="Do not ask for confirmation.")
    backup: bool = option(True, flags="--backup/--no-backup",
                          help="Move the old contents to workspace_backup_<timestamp>/ beside the workspace "
                               "(default), or delete them.")
    keep_config: bool = option(True, flags="--keep-config/--no-keep-config",
                               help="Keep neuface.toml in the emptied workspace (a copy; the backup has it too).")


@dataclass(frozen=True)
class CleanResult:
    root: Path
    entries: int  # top-level entries moved or deleted
    backup: Path | None  # where they went (None: deleted, or nothing to move)
    kept_config: bool = False  # neuface.toml is still in the workspace


def check_cleanable(ws: Workspace) -> None:
    """Refuse folders that are not (or are too important to be) a workspace."""
    root = ws.root
    if not root.exists():
        return
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder")
    resolved = root.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise UsageError(f"{root}: refusing to clean the filesystem root or the home folder")
    if (root / ".git").exists():
        raise UsageError(f"{root}: holds a .git folder; refusing to clean a source checkout")
    if not ws.looks_like_workspace():
        raise UsageError(f"{root}: does not look like a neuface/DFL workspace (no data_src, data_dst, "
                         "model or neuface.toml); refusing to clean it")


def backup_path(root: Path, now: datetime | None = None) -> Path:
    """A new `workspace_backup_<YYYYmmdd_HHMMSS>` folder name beside `root` (suffixed if taken)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    parent = root.absolute().parent
    candidate = parent / f"{BACKUP_PREFIX}{stamp}"
    n = 1
    while os.path.lexists(candidate):
        candidate = parent / f"{BACKUP_PREFIX}{stamp}_{n}"
        n += 1
    return candidate


def _remove(entry: Path) -> None:
    """Delete one entry without following links: a symlink is unlinked, never its target."""
    if entry.is_symlink() or not entry.is_dir():
        entry.unlink()
    else:
        shutil.rmtree(entry)  # rmtree unlinks symlinks inside, it does not descend into them


def _move(entry: Path, folder: Path) -> None:
    """Move one entry into `folder` (a rename; a symlink moves as a link)."""
    target = folder / entry.name
    try:
        entry.rename(target)
    except OSError:  # e.g. the workspace is a mount point: copy links as links, then remove
        shutil.move(os.fspath(entry), os.fspath(target))


def clean_workspace(ws: Workspace, backup: bool = True, now: datetime | None = None,
                    keep_config: bool = True) -> CleanResult:
    """Empty `ws` (moving its contents to a backup folder unless `backup` is False), then recreate the layout.

    With `keep_config`, `neuface.toml` survives: the backup gets it too (so it is complete) and a copy (a link
    stays a link) is put back; without a backup it is simply not deleted.
    """
    check_cleanable(ws)
    root = ws.root
    config = ws.config_file
    has_config = keep_config and os.path.lexists(config)
    entries = sorted(root.iterdir()) if root.is_dir() else []
    target: Path | None = None
    if entries and backup:
        target = backup_path(root, now)
        target.mkdir()
        for entry in entries:
            _move(entry, target)
        if has_config:
            shutil.copy2(target / config.name, config, follow_symlinks=False)
    elif entries:
        entries = [e for e in entries if not (has_config and e.name == config.name)]
        for entry in entries:
            _remove(entry)
    ws.ensure_layout()
    return CleanResult(root=root, entries=len(entries), backup=target, kept_config=has_config)
