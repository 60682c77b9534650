"""Crash-safe file replacement: write a temp file beside the target, fsync, rename.

A reader (or a crash) never sees a half-written file where a good one was.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Temp names carry `.<pid>@<host>.` so a later run can tell a killed process's leftovers from a live one's.
_OWNER_RE = re.compile(r"\.(\d+)@([A-Za-z0-9_-]+)\.")


def owner_tag() -> str:
    """`<pid>@<host>` of this process, safe inside a file name."""
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:32] or "host"
    return f"{os.getpid()}@{host}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        return True
    return True


def is_stale(path: Path) -> bool:
    """True when `path` is a temp name written by a process of this host that no longer runs (kill -9)."""
    found = _OWNER_RE.findall(path.name)
    if not found:
        return False
    pid, host = found[-1]
    return host == owner_tag().split("@", 1)[1] and int(pid) != os.getpid() and not _process_alive(int(pid))


def stale_entries(folder: Path, prefix: str) -> list[Path]:
    """Temp files/folders in `folder` named `prefix...` whose owner process is dead."""
    try:
        entries = sorted(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [p for p in entries if p.name.startswith(prefix) and is_stale(p)]


def remove_path(path: Path) -> None:
    """Delete a file, a link (never its target) or a folder tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def remove_stale(folder: Path, prefix: str) -> list[Path]:
    """Delete what a killed run left behind (temp names `prefix...` of dead processes); returns them."""
    removed = []
    for path in stale_entries(folder, prefix):
        with contextlib.suppress(FileNotFoundError):
            remove_path(path)
        removed.append(path)
    return removed


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sync_filesystem(path: Path) -> None:
    """Flush every pending write on the filesystem holding `path` (Linux `syncfs`, else a global `sync`).

    One flush after writing thousands of files costs about what one fsync does, where an fsync per file
    costs a disk round trip each; syncfs also spares the other disks the global `sync` would flush.
    """
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
        fd = os.open(path, os.O_RDONLY)
    except (OSError, AttributeError):
        os.sync()
        return
    try:
        if syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _target_mode(target: Path) -> int:
    """Keep a replaced file's permissions; new files get the usual 0666 & ~umask (mkstemp makes 0600)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path in the target's folder; on success fsync it and rename it onto target.

    On any exception the temp file is removed and the target is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sfx = suffix if suffix is not None else target.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{owner_tag()}.", suffix=sfx + ".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _target_mode(target))
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Replace `target` with `data` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Replace `target` with `text` atomically."""
    atomic_write_bytes(target, text.encode(encoding))


@contextlib.contextmanager
def staging_dir(final: Path, prefix: str = ".staging-") -> Iterator[Path]:
    """Yield an empty temp folder beside `final`; the caller moves it into place on success.

    On an exception the temp folder and its contents are removed, so no half-filled folder remains. Its name,
    `<prefix><final name>.<pid>@<host>.<random>`, lets `remove_stale(final.parent, prefix + final.name)`
    clear what a killed (kill -9, power loss) run left.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{final.name}.{owner_tag()}.", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; the moved-in folder should look like mkdir's
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if tmp.exists() and not any(tmp.iterdir()):
            tmp.rmdir()
