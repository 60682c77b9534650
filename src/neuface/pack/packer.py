"""`pack` and `unpack`: move aligned faces into and out of `faceset.pak` without ever losing one.

Pack writes the pak to a temp file, re-reads every entry and compares it byte for byte with its
source file, renames it into place, and only then removes the packed loose files (never files it
skipped). Unpack writes every face (person sub-folders included), syncs and verifies them, and only
then removes the pak. Both accept `keep` to leave the originals.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from neuface.console import track, warn
from neuface.errors import FacesetFormatError, UsageError
from neuface.faceset import dfljpg
from neuface.faceset.faceset import list_images
from neuface.faceset.pak import PAK_NAME, PakEntry, PakReader, sample_config, write_pak
from neuface.workspace import IMAGE_EXTENSIONS

_LISTED = 10  # invalid files named in an error message before "... and N more"


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


def _describe(items: list[tuple[Path, str]]) -> str:
    lines = [f"  {msg}" for _, msg in items[:_LISTED]]
    if len(items) > _LISTED:
        lines.append(f"  ... and {len(items) - _LISTED} more")
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

    if invalid and not skip_invalid:
        raise UsageError(f"{len(invalid)} file(s) in {root} are not DFL aligned faces; nothing was packed "
                         f"(pass --skip-invalid to pack the rest; skipped files are kept):\n{_describe(invalid)}")
    if not entries:
        raise UsageError(f"{root}: none of the {len(invalid)} images are DFL aligned faces; nothing to pack")
    if invalid:
        warn(f"skipping {len(invalid)} file(s) that are not DFL aligned faces (kept in place):\n{_describe(invalid)}")

    write_pak(pak, entries, description="packing")
    result = PackResult(pak, packed=len(entries), bytes=sum(e.size for e in entries), skipped=invalid)
    if not keep:
        for path in packed_paths:
            path.unlink()
            result.removed += 1
        for person_dir in {p.parent for p in packed_paths if p.parent != root}:
            with contextlib.suppress(OSError):  # keeps folders that still hold skipped or other files
                person_dir.rmdir()
    return result


def _target(root: Path, config: dict) -> Path:
    person = config.get("person_name")
    return root / config["filename"] if person is None else root / person / config["filename"]


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
        conflicts, todo = [], []
        for i, t in enumerate(targets):
            if t.is_file() and t.read_bytes() == reader.blob(i):
                result.already_present += 1
            elif t.exists():
                conflicts.append((t, f"{t}: exists with different content"))
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
                tmp = t.with_name(f".{t.name}.unpack.tmp")
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
        os.sync()  # every face durable before the pak (the only other copy) may go
        for i in track(range(len(targets)), len(targets), "verifying", unit="faces"):
            if targets[i].read_bytes() != reader.blob(i):
                raise FacesetFormatError(f"{targets[i]}: verification failed after unpacking; {pak} was kept")
    if not keep:
        pak.unlink()
        result.pak_removed = True
    return result
