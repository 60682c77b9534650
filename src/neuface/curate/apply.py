"""Move flagged faces to aligned_trash/<reason>/ and back, losing nothing (folder or faceset.pak).

Nothing is ever deleted. A manifest (aligned_trash/curate_manifest.json) lists every face moved: its
name, reason, place in the trash, SHA-256 and, for a pak, its position, so `--restore` puts each face back
byte for byte where it was. The manifest is written before any file moves, so an interrupted apply can
still be restored; several applies stack (restore undoes them all, newest first).

On a pak the trashed faces are written out as loose files first, then the pak is rewritten without them
through `write_pak` (temp file, every entry re-read and compared, then renamed in: `pack`'s safety).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuface.atomic import atomic_write_bytes, atomic_write_text
from neuface.errors import UsageError
from neuface.faceset import dfljpg
from neuface.faceset.external import ZIPREF_NAME
from neuface.faceset.pak import PAK_NAME, PakEntry, PakReader, sample_config, write_pak

MANIFEST_NAME = "curate_manifest.json"
MANIFEST_VERSION = 1


@dataclass
class MoveReport:
    """What an apply or a restore did: faces moved per reason."""

    moved: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.moved.values())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_path(trash_dir: Path) -> Path:
    return trash_dir / MANIFEST_NAME


def read_manifest(trash_dir: Path) -> dict[str, Any] | None:
    """The manifest of earlier applies, or None; a one-line error naming it when it is damaged."""
    path = manifest_path(trash_dir)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != MANIFEST_VERSION or not isinstance(data.get("rounds"), list):
            raise ValueError("unknown layout")
        return data
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable curate manifest ({exc}); restore by hand from {trash_dir}") from None


def _write_manifest(trash_dir: Path, data: dict[str, Any]) -> None:
    trash_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest_path(trash_dir), json.dumps(data, indent=1))


def _free_name(folder: Path, name: str, taken: set[Path]) -> Path:
    """`folder/name`, or `stem_2.ext`, ... when a file (or an earlier move of this run) holds it."""
    target = folder / name
    k = 2
    while target.exists() or target in taken:
        p = Path(name)
        target = folder / p.parent / f"{p.stem}_{k}{p.suffix}"
        k += 1
    taken.add(target)
    return target


def _check_kind(aligned: Path, kind: str, manifest: dict[str, Any] | None) -> None:
    if (aligned / ZIPREF_NAME).is_file() and not (aligned / PAK_NAME).is_file():
        raise UsageError(f"{aligned / ZIPREF_NAME}: curate --apply works on a faceset.pak or loose faces, not on "
                         f"a pak inside a zip; run `neuface unpack` first")
    if manifest is not None and manifest.get("kind") != kind:
        raise UsageError(f"{manifest_path(aligned)}: faces were trashed from a {manifest.get('kind')} faceset but "
                         f"{aligned} is now a {kind}; pack or unpack it back first, then --restore")


def apply_moves(aligned: Path, trash_dir: Path, flagged: Mapping[str, str]) -> MoveReport:
    """Move each face `name → reason` of `flagged` out of `aligned` into `trash_dir/<reason>/`."""
    aligned, trash_dir = Path(aligned), Path(trash_dir)
    is_pak = (aligned / PAK_NAME).is_file()
    kind = "pak" if is_pak else "folder"
    manifest = read_manifest(trash_dir) or {"version": MANIFEST_VERSION, "kind": kind, "rounds": []}
    _check_kind(aligned, kind, manifest)
    if not flagged:
        return MoveReport({})
    taken: set[Path] = set()
    if is_pak:
        return _apply_pak(aligned, trash_dir, flagged, manifest, taken)
    entries = []
    for name, reason in flagged.items():
        src = aligned / name
        if not src.is_file():
            raise UsageError(f"{src}: face to trash not found (faceset changed while curating?)")
        dest = _free_name(trash_dir / reason, name, taken)
        entries.append({"name": name, "reason": reason, "trash": dest.relative_to(trash_dir).as_posix(),
                        "sha256": sha256(src.read_bytes())})
    manifest["rounds"].append(entries)
    _write_manifest(trash_dir, manifest)  # first: an interrupted apply is still restorable
    moved: dict[str, int] = {}
    for e in entries:
        dest = trash_dir / e["trash"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(aligned / e["name"], dest)
        moved[e["reason"]] = moved.get(e["reason"], 0) + 1
    return MoveReport(moved)


def _apply_pak(aligned: Path, trash_dir: Path, flagged: Mapping[str, str], manifest: dict[str, Any],
               taken: set[Path]) -> MoveReport:
    pak = aligned / PAK_NAME
    with PakReader(pak) as reader:
        configs = reader.configs()
        names = [c["filename"] if c.get("person_name") is None else f"{c['person_name']}/{c['filename']}"
                 for c in configs]
        index = {n: i for i, n in enumerate(names)}
        missing = [n for n in flagged if n not in index]
        if missing:
            raise UsageError(f"{pak}: no face named {missing[0]!r} (faceset changed while curating?)")
        entries, moved = [], {}
        for name, reason in sorted(flagged.items(), key=lambda kv: index[kv[0]]):
            i = index[name]
            data = reader.blob(i)
            dest = _free_name(trash_dir / reason, name, taken)
            entries.append({"name": name, "reason": reason, "trash": dest.relative_to(trash_dir).as_posix(),
                            "sha256": sha256(data), "index": i, "person_name": configs[i].get("person_name"),
                            "filename": configs[i]["filename"]})
            dest.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(dest, data)
            moved[reason] = moved.get(reason, 0) + 1
        manifest["rounds"].append(entries)
        _write_manifest(trash_dir, manifest)
        gone = {e["index"] for e in entries}
        keep = [PakEntry(configs[i], reader.entry_size(i), lambda i=i: reader.blob(i))
                for i in range(len(configs)) if i not in gone]
        write_pak(pak, keep, description="repacking without trashed faces")
    return MoveReport(moved)


def _trash_bytes(trash_dir: Path, e: dict[str, Any]) -> bytes:
    path = trash_dir / e["trash"]
    try:
        data = path.read_bytes()
    except OSError:
        raise UsageError(f"{path}: trashed face is missing; cannot restore {e['name']}") from None
    if sha256(data) != e["sha256"]:
        raise UsageError(f"{path}: changed since curate trashed it (hash differs); restore it by hand")
    return data


def restore_moves(aligned: Path, trash_dir: Path) -> MoveReport:
    """Put back every face the manifest lists, newest apply first; then remove the manifest."""
    aligned, trash_dir = Path(aligned), Path(trash_dir)
    manifest = read_manifest(trash_dir)
    if manifest is None:
        raise UsageError(f"{manifest_path(trash_dir)}: nothing to restore (no curate manifest)")
    _check_kind(aligned, "pak" if (aligned / PAK_NAME).is_file() else "folder", manifest)
    moved: dict[str, int] = {}
    if manifest["kind"] == "pak":
        _restore_pak(aligned, trash_dir, manifest)
    else:
        for entries in reversed(manifest["rounds"]):
            for e in entries:
                _restore_file(aligned, trash_dir, e)
    for entries in manifest["rounds"]:
        for e in entries:
            moved[e["reason"]] = moved.get(e["reason"], 0) + 1
    if manifest["kind"] == "pak":
        for entries in manifest["rounds"]:
            for e in entries:
                (trash_dir / e["trash"]).unlink(missing_ok=True)
    manifest_path(trash_dir).unlink()
    _remove_empty_dirs(trash_dir)
    return MoveReport(moved)


def _restore_file(aligned: Path, trash_dir: Path, e: dict[str, Any]) -> None:
    src, dest = trash_dir / e["trash"], aligned / e["name"]
    if not src.exists() and dest.is_file() and sha256(dest.read_bytes()) == e["sha256"]:
        return  # an interrupted apply never moved it
    data = _trash_bytes(trash_dir, e)
    if dest.exists():
        if sha256(dest.read_bytes()) != sha256(data):
            raise UsageError(f"{dest}: a different file now has this name; move it away, then --restore again")
        src.unlink()
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)


def _restore_pak(aligned: Path, trash_dir: Path, manifest: dict[str, Any]) -> None:
    pak = aligned / PAK_NAME
    with PakReader(pak) as reader:
        configs = reader.configs()
        entries = [PakEntry(configs[i], reader.entry_size(i), lambda i=i: reader.blob(i)) for i in range(len(configs))]
        present = {(c.get("person_name"), c["filename"]) for c in configs}
        for round_entries in reversed(manifest["rounds"]):
            for e in sorted(round_entries, key=lambda e: e["index"]):
                if (e["person_name"], e["filename"]) in present:
                    continue  # an interrupted apply never repacked
                data = _trash_bytes(trash_dir, e)
                parsed = dfljpg.parse_bytes(data, str(trash_dir / e["trash"]))
                cfg = sample_config(parsed.meta.to_dict(), e["filename"], parsed.shape, e["person_name"])
                # The same key objects as the unpickled configs: the pickler memoises by identity, so only
                # then is the sample table byte for byte the one before --apply.
                cfg = _same_keys(cfg, configs[0]) if configs else cfg
                entries.insert(min(e["index"], len(entries)), PakEntry(cfg, len(data), lambda d=data: d))
        write_pak(pak, entries, description="repacking restored faces")


def _same_keys(obj: Any, like: Any) -> Any:
    """`obj` with every dict key (nested too) replaced by the equal key object of `like`, where it has one."""
    if not isinstance(obj, dict) or not isinstance(like, dict):
        return obj
    keys = {k: k for k in like}
    return {keys.get(k, k): _same_keys(v, like.get(k)) for k, v in obj.items()}


def _remove_empty_dirs(trash_dir: Path) -> None:
    for d in sorted((p for p in trash_dir.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
