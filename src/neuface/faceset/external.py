"""A ready-made faceset used in place: `neuface run --dst-faceset random_dst_face_set.zip`.

DFL users train live models against the ready-made 60,000-face dst faceset instead of a dst video. Copying
it into every workspace costs gigabytes and minutes, so the workspace's `aligned/` only points at it:

- a `faceset.pak` (or a folder holding one): `aligned/faceset.pak` becomes a symlink to it;
- a folder of aligned images: `aligned/` gets one symlink per image (persons' sub-folders kept);
- a zip that stores `faceset.pak` uncompressed: `aligned/faceset.pak.zipref` records the pak's byte range
  in the zip, and `Faceset.open` memory-maps that range (nothing is extracted);
- any other zip (a deflated pak, or images): extracted once into `aligned/`, with a progress bar.

Every writer in neuface replaces files by rename (temp file, fsync, rename), so a later `neuface mask` or
`sort` on a linked faceset replaces the link with a workspace file and never writes through it: what the
user pointed at is only ever read.
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from neuface.atomic import atomic_path, atomic_write_text, staging_dir
from neuface.console import info, make_progress
from neuface.errors import UsageError
from neuface.faceset import dfljpg
from neuface.faceset.pak import PAK_NAME

ZIPREF_NAME = f"{PAK_NAME}.zipref"
# Beside aligned/: what was linked there, so a resumed run knows its own link from the user's faces.
SOURCE_NAME = "aligned_source.json"
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # zip local file header: signature ... name len, extra len


@dataclass(frozen=True)
class ZipRef:
    """A pak stored uncompressed inside a zip: the zip, the member, and the pak's byte range in the zip."""

    zip: Path
    member: str
    offset: int
    size: int

    @property
    def label(self) -> str:
        return f"{self.zip}:{self.member}"

    def to_json(self) -> str:
        return json.dumps({"zip": str(self.zip), "member": self.member, "offset": self.offset, "size": self.size})

    @classmethod
    def read(cls, path: Path) -> ZipRef:
        """The reference in `aligned/faceset.pak.zipref`; a one-line error when it is damaged or stale."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            ref = cls(Path(raw["zip"]), str(raw["member"]), int(raw["offset"]), int(raw["size"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}: not a valid faceset reference ({exc})") from exc
        if not ref.zip.is_file():
            raise UsageError(f"{path}: points at {ref.zip}, which is gone; link the faceset again")
        return ref


@dataclass(frozen=True)
class LinkResult:
    """How a faceset was made available in `aligned/` (`how`: symlink | per-file symlinks | zip | extracted)."""

    source: Path
    how: str
    aligned: Path


def _source_record(aligned: Path) -> Path:
    return aligned.parent / SOURCE_NAME


def _identity(path: Path) -> dict[str, object]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size if path.is_file() else None,
            "mtime": st.st_mtime if path.is_file() else None}


def linked_source(aligned: Path) -> dict[str, object] | None:
    """What `link_faceset` put in `aligned/` last (None when nothing was linked)."""
    try:
        return json.loads(_source_record(aligned).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def stored_pak_range(zip_path: Path, info: zipfile.ZipInfo) -> tuple[int, int]:
    """(offset, size) of an uncompressed member's bytes in the zip, from its local file header."""
    with open(zip_path, "rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise UsageError(f"{zip_path}: damaged zip (no local header for {info.filename})")
    name_len, extra_len = _LOCAL_HEADER.unpack(header)[-2:]
    return info.header_offset + _LOCAL_HEADER.size + name_len + extra_len, info.file_size


def _zip_members(archive: zipfile.ZipFile) -> tuple[zipfile.ZipInfo | None, list[zipfile.ZipInfo]]:
    """(the zip's faceset.pak member or None, its aligned images), folders of persons kept."""
    pak, images = None, []
    for item in archive.infolist():
        name = PurePosixPath(item.filename)
        if item.is_dir() or any(part.startswith(".") or part == "__MACOSX" for part in name.parts):
            continue
        if name.name == PAK_NAME and pak is None:
            pak = item
        elif name.suffix.lower() in dfljpg.IMAGE_SUFFIXES:
            images.append(item)
    return pak, images


def _image_root(images: list[zipfile.ZipInfo]) -> PurePosixPath:
    """The folder the images' names are relative to: the deepest folder all of them share."""
    common = os.path.commonpath([str(PurePosixPath(i.filename).parent) for i in images]) if images else ""
    return PurePosixPath(common or ".")


def _starts_like_a_pak(path: Path) -> bool:
    """DFL's pak starts with version 1 as a little-endian u64."""
    with open(path, "rb") as fh:
        return fh.read(8) == struct.pack("<Q", 1)


def _extract(archive: zipfile.ZipFile, zip_path: Path, pak: zipfile.ZipInfo | None,
             images: list[zipfile.ZipInfo], aligned: Path) -> None:
    """Extract the pak (or the images) into aligned/, each file written to a temp name, then renamed."""
    items = [pak] if pak is not None else images
    root = _image_root(images)
    total = sum(i.file_size for i in items)
    with make_progress("B") as progress:
        task = progress.add_task(f"extracting {zip_path.name}", total=total, rate="")
        for item in items:
            rel = PurePosixPath(PAK_NAME) if item is pak else PurePosixPath(item.filename).relative_to(root)
            if any(part in ("", "..") for part in rel.parts) or len(rel.parts) > 2:
                raise UsageError(f"{zip_path}: unexpected member {item.filename!r} (faces may sit at most one "
                                 "person folder deep)")
            target = aligned.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp, archive.open(item) as src, open(tmp, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
                    progress.update(task, advance=len(chunk))


def _extract_into(archive: zipfile.ZipFile, zip_path: Path, pak: zipfile.ZipInfo | None,
                  images: list[zipfile.ZipInfo], aligned: Path) -> None:
    """`_extract` into a staging folder that becomes `aligned/` only when every member was read intact, so an
    interrupted or damaged extraction leaves `aligned/` as it was (empty) and a rerun starts clean."""
    with staging_dir(aligned, prefix=".faceset-") as stage:
        try:
            _extract(archive, zip_path, pak, images, stage)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise UsageError(f"{zip_path}: damaged zip, cannot extract its faces ({exc}); nothing was "
                             "changed") from exc
        if aligned.exists():
            aligned.rmdir()  # `_check_empty` made sure it is empty
        os.replace(stage, aligned)


def _link_images(folder: Path, aligned: Path) -> int:
    """One symlink per aligned image of `folder` (and its persons' sub-folders) in `aligned/`."""
    from neuface.faceset.faceset import list_images

    found = list_images(folder)
    if not found:
        raise UsageError(f"{folder}: no faceset.pak and no aligned images in it")
    for path, person in found:
        target = aligned / person / path.name if person else aligned / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(path.resolve(), target)
    return len(found)


def _check_empty(aligned: Path, source: Path) -> None:
    if aligned.is_dir() and any(aligned.iterdir()):
        raise UsageError(f"{aligned} already holds faces; move them away (nothing is deleted) or drop "
                         f"the faceset option to use them instead of {source}")


def unlink_faceset(aligned: Path) -> None:
    """Remove what `link_faceset` put in `aligned/`: links and references only, never a real face file."""
    record = linked_source(aligned)
    if record is None:
        return
    if record.get("how") == "extracted":
        raise UsageError(f"{aligned}: holds faces extracted from {record.get('path')}; move the folder away to "
                         "use another faceset")
    for p in sorted(aligned.rglob("*"), key=lambda q: len(q.parts), reverse=True):
        if p.is_symlink() or p.name == ZIPREF_NAME:
            p.unlink()
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    _source_record(aligned).unlink(missing_ok=True)


def link_faceset(source: Path, aligned: Path) -> LinkResult:
    """Make the faceset at `source` (pak, folder, or zip of either) the faces of `aligned/`, read in place
    where it can be; a resumed run that linked the same source before changes nothing."""
    source = Path(source).expanduser()
    if not source.exists():
        raise UsageError(f"{source}: no such faceset (give a faceset.pak, a folder of aligned faces, or a zip)")
    record = linked_source(aligned)
    if record is not None and record.get("source") == _identity(source):
        return LinkResult(source, str(record.get("how")), aligned)
    if record is not None:
        unlink_faceset(aligned)
    _check_empty(aligned, source)
    aligned.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        pak = source / PAK_NAME
        if pak.is_file():
            os.symlink(pak.resolve(), aligned / PAK_NAME)
            how = "symlink"
        else:
            n = _link_images(source, aligned)
            how = "per-file symlinks"
            info(f"{aligned}: {n} links to the faces in {source}")
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            pak_item, images = _zip_members(archive)
            if pak_item is None and not images:
                raise UsageError(f"{source}: the zip holds no faceset.pak and no aligned images")
            if pak_item is not None and pak_item.compress_type == zipfile.ZIP_STORED:
                offset, size = stored_pak_range(source, pak_item)
                ref = ZipRef(source.resolve(), pak_item.filename, offset, size)
                atomic_write_text(aligned / ZIPREF_NAME, ref.to_json())
                how = "zip"
            else:
                info(f"{source.name}: its faces are compressed, so they are extracted once into {aligned}")
                _extract_into(archive, source, pak_item, images, aligned)
                how = "extracted"
    elif source.is_file() and _starts_like_a_pak(source):
        os.symlink(source.resolve(), aligned / PAK_NAME)
        how = "symlink"
    else:
        raise UsageError(f"{source}: not a faceset.pak, a folder of aligned faces, or a zip of either")
    atomic_write_text(_source_record(aligned), json.dumps({"source": _identity(source), "how": how}))
    return LinkResult(source, how, aligned)

