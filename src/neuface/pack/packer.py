"""`pack` and `unpack`: move aligned faces into and out of `faceset.pak` without ever losing one.

Pack writes the pak to a temp file, re-reads every entry and compares it byte for byte with its
source file, renames it into place, and only then removes the packed loose files (never files it
skipped). Unpack writes every face (person sub-folders included), syncs and verifies them, and only
then removes the pak. Both accept `keep` to leave the originals.
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from neuface.atomic import owner_tag, remove_path, stale_entries, sync_filesystem
from neuface.console import track, warn
from neuface.errors import FacesetFormatError, UsageError
from neuface.faceset import dfljpg
from neuface.faceset.faceset import list_images
from neuface.faceset.pak import PAK_NAME, PakEntry, PakReader, sample_config, write_pak
from neuface.workspace import IMAGE_EXTENSIONS

_LISTED = 10  # invalid files named in an error message before "... and N more"
# Unlinks in flight at once. On filesystems mounted with `discard` (common on cloud VMs) each unlink waits for
# its TRIM: ~3 ms per face serially, ~0.2 ms with 16 in flight (measured on our 2-core VM).
_UNLINK_WORKERS = 16


@dataclass
class PackResult:
    pak: Path
    packed: int = 0
    bytes: int = 0
    removed: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)


@dataclass
class UnpackResult:
    pak: Path
    written: int = 0
    already_present: int = 0
    bytes: int = 0
    pak_removed: bool = False


def _other_images(aligned_dir: Path) -> list[Path]:
    """Images DFL would list but cannot load as aligned faces (.tif, .bmp, ...), top level and one folder down."""
    ours = set(dfljpg.IMAGE_SUFFIXES)
    found = []
    for d in [aligned_dir, *sorted(p for p in aligned_dir.iterdir() if p.is_dir() and not p.name.startswith("."))]:
        found += [p for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in IMAGE_EXTENSIONS and p.suffix.lower() not in ours]
    return found


def _describe(messages: list[str]) -> str:
    """The first few messages, one per indented line, then how many more."""
    lines = [f"  {msg}" for msg in messages[:_LISTED]]
    if len(messages) > _LISTED:
        lines.append(f"  ... and {len(messages) - _LISTED} more")
    return "\n".join(lines)


def pack_faceset(aligned_dir: str | os.PathLike[str], *, keep: bool = False,
                 skip_invalid: bool = False) -> PackResult:
    """Pack every aligned face of `aligned_dir` (and its person sub-folders) into `faceset.pak`."""
    root = Path(aligned_dir)
    pak = root / PAK_NAME
    if not root.is_dir():
        raise UsageError(f"{root}: aligned-faces folder not found")
    if pak.exists():
        raise UsageError(f"{pak} already exists; run `neuface unpack` first (or move it away) before packing again")
    images = list_images(root)
    invalid: list[tuple[Path, str]] = [(p, f"{p}: not an image type DFL can load as an aligned face")
                                       for p in _other_images(root)]
    if not images and not invalid:
        raise UsageError(f"{root}: no aligned faces to pack")

    entries: list[PakEntry] = []
    packed_paths: list[Path] = []
    for path, person in track(images, len(images), "reading metadata", unit="faces"):
        try:
            data = path.read_bytes()
            parsed = dfljpg.parse_bytes(data, str(path))
        except OSError as exc:
            invalid.append((path, f"{path}: cannot read: {exc.strerror}"))
            continue
        except FacesetFormatError as exc:
            invalid.append((path, str(exc)))
            continue
        config = sample_config(parsed.meta.to_dict(), path.name, parsed.shape, person)
        entries.append(PakEntry(config, len(data), path.read_bytes))
        packed_paths.append(path)

    listed = _describe([m for _, m in invalid])
    if invalid and not skip_invalid:
        raise UsageError(f"{len(invalid)} file(s) in {root} are not DFL aligned faces; nothing was packed "
                         f"(pass --skip-invalid to pack the rest; skipped files are kept):\n{listed}")
    if not entries:
        raise UsageError(f"{root}: none of the {len(invalid)} images are DFL aligned faces; nothing to pack")
    if invalid:
        warn(f"skipping {len(invalid)} file(s) that are not DFL aligned faces (kept in place):\n{listed}")

    write_pak(pak, entries, description="packing")
    result = PackResult(pak, packed=len(entries), bytes=sum(e.size for e in entries), skipped=invalid)
    if not keep:
        result.removed = _remove_packed(packed_paths, pak)
        for person_dir in {p.parent for p in packed_paths if p.parent != root}:
            with contextlib.suppress(OSError):  # keeps folders that still hold skipped or other files
                person_dir.rmdir()
    return result


def _unlink(path: Path) -> str | None:
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    return None


def _remove_packed(paths: list[Path], pak: Path) -> int:
    """Delete the packed loose files (all safely in the verified pak) on a few threads; returns how many."""
    with ThreadPoolExecutor(_UNLINK_WORKERS, thread_name_prefix="neuface-unlink") as pool:
        errors = [e for e in track(pool.map(_unlink, paths), len(paths), "removing loose files", unit="files") if e]
    if errors:
        warn(f"{len(errors)} packed file(s) could not be removed (they are safe in {pak}; readers use the pak); "
             f"delete them by hand:\n{_describe(errors)}")
    return len(paths) - len(errors)


def _target(root: Path, config: dict) -> Path:
    person = config.get("person_name")
    return root / config["filename"] if person is None else root / person / config["filename"]


_UNPACK_TMP = ".unpack.tmp"


def _remove_unpack_leftovers(folders: set[Path]) -> None:
    """Delete the temp face a killed unpack was writing (its pak, still in place, has every face)."""
    for folder in folders:
        for path in stale_entries(folder, "."):
            if path.name.endswith(_UNPACK_TMP):
                remove_path(path)


def unpack_faceset(aligned_dir: str | os.PathLike[str], *, keep: bool = False) -> UnpackResult:
    """Restore every face of `aligned_dir/faceset.pak` byte for byte, then remove the pak (unless `keep`)."""
    root = Path(aligned_dir)
    pak = root / PAK_NAME
    if not pak.is_file():
        raise UsageError(f"{pak}: no faceset.pak to unpack")
    result = UnpackResult(pak)
    with PakReader(pak) as reader:
        configs = reader.configs()
        targets = [_target(root, cfg) for cfg in configs]
        seen: set[Path] = set()
        for t in targets:
            if t in seen:
                raise FacesetFormatError(f"{pak}: two faces would be written to {t.relative_to(root)}")
            seen.add(t)
        _remove_unpack_leftovers({t.parent for t in targets})
        conflicts, todo = [], []
        for i, t in enumerate(targets):
            if t.is_file() and t.read_bytes() == reader.blob(i):
                result.already_present += 1  # an interrupted unpack resumes here
            elif t.exists():
                conflicts.append(f"{t}: exists with different content")
            else:
                todo.append(i)
        if conflicts:
            raise UsageError(f"{len(conflicts)} file(s) in {root} would be overwritten; nothing was unpacked "
                             f"(move them away first):\n{_describe(conflicts)}")

        tmp_files: list[Path] = []
        try:
            for i in track(todo, len(todo), "unpacking", unit="faces"):
                t = targets[i]
                t.parent.mkdir(parents=True, exist_ok=True)
                tmp = t.with_name(f".{t.name}.{owner_tag()}{_UNPACK_TMP}")
                tmp_files.append(tmp)
                data = reader.blob(i)
                tmp.write_bytes(data)
                os.replace(tmp, t)
                result.written += 1
                result.bytes += len(data)
        finally:
            for tmp in tmp_files:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        sync_filesystem(root)  # every face durable before the pak (the only other copy) may go
        for i in track(range(len(targets)), len(targets), "verifying", unit="faces"):
            if targets[i].read_bytes() != reader.blob(i):
                raise FacesetFormatError(f"{targets[i]}: verification failed after unpacking; {pak} was kept")
    if not keep:
        pak.unlink()
        result.pak_removed = True
    return result
