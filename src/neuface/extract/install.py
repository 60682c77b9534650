"""Move freshly extracted frames into `data_src/` or `data_dst/` without ever losing the old ones.

The frames folder can also hold `aligned/` and `aligned_debug/`, so it is never replaced wholesale: old
frame files are moved aside first (same filesystem, so renames), the new ones moved in, and the old ones
deleted only once every new frame is in place. On failure the old frames are put back.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from neuface.atomic import fsync_dir, owner_tag

REPLACED_PREFIX = ".replaced-"


def _move_all(files: list[Path], folder: Path) -> list[Path]:
    """Move files into `folder` (renames; a copy where data_src/ is a link to another disk)."""
    moved: list[Path] = []
    for f in files:
        target = folder / f.name
        shutil.move(f, target)
        moved.append(target)
    return moved


def install_frames(staging: Path, dest: Path, old_frames: list[Path]) -> None:
    """Put the frames in `staging` at `dest`, replacing `old_frames` (files inside `dest`)."""
    if not dest.exists():
        staging.rename(dest)  # fresh side: one atomic rename
        fsync_dir(dest.parent)
        return
    new_frames = sorted(p for p in staging.iterdir() if p.is_file())
    aside = Path(tempfile.mkdtemp(prefix=f"{REPLACED_PREFIX}{dest.name}.{owner_tag()}.", dir=dest.parent))
    moved_old: list[Path] = []
    moved_new: list[Path] = []
    try:
        moved_old = _move_all(old_frames, aside)
        moved_new = _move_all(new_frames, dest)
    except BaseException:
        _move_all(moved_new, staging)
        _move_all(moved_old, dest)
        aside.rmdir()
        raise
    fsync_dir(dest)
    shutil.rmtree(aside)
