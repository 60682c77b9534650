"""One API over "a folder of aligned images" and "a faceset.pak".

`Faceset.open(aligned_dir)` returns a pak-backed faceset when `aligned_dir/faceset.pak` exists (and
warns when loose images sit beside it: readers use the pak, as DFL does), else a folder faceset.
Records load their metadata lazily, so opening is cheap; a malformed file raises FacesetFormatError
naming it when its metadata is first needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from neuface.console import warn
from neuface.errors import UsageError
from neuface.faceset import dfljpg
from neuface.faceset.external import ZIPREF_NAME, ZipRef
from neuface.faceset.meta import FaceMeta
from neuface.faceset.pak import PAK_NAME, PakEntry, PakReader, sample_config, write_pak


class FaceRecord:
    """One aligned face: its name relative to the aligned folder, person, path (None in a pak), metadata."""

    __slots__ = ("name", "person_name", "path", "index", "_read", "_source", "_parsed", "_config")

    def __init__(self, name: str, person_name: str | None, path: Path | None, index: int,
                 read: Callable[[], bytes], source: str, config: dict[str, Any] | None = None):
        self.name = name
        self.person_name = person_name
        self.path = path
        self.index = index
        self._read = read
        self._source = source
        self._parsed: dfljpg.ParsedFace | None = None
        self._config = config

    def _parse(self) -> dfljpg.ParsedFace:
        if self._parsed is None:
            self._parsed = dfljpg.parse_bytes(self._read(), self._source)
        return self._parsed

    @property
    def meta(self) -> FaceMeta:
        """The face's full DFL metadata (parsed on first access, then cached)."""
        return self._parse().meta

    @property
    def shape(self) -> tuple[int, int, int]:
        """(height, width, 3) from the file header, without decoding pixels."""
        if self._config is not None and isinstance(self._config.get("shape"), tuple):
            return self._config["shape"]
        return self._parse().shape

    @property
    def sample_config(self) -> dict[str, Any] | None:
        """DFL's sample-table entry for a face inside a pak (None for loose files)."""
        return self._config

    def load_bytes(self) -> bytes:
        """The file's exact bytes (metadata included)."""
        return self._read()

    def load_image(self) -> np.ndarray:
        """Pixels as BGR uint8 HxWx3."""
        return dfljpg.decode_image(self._read(), self._source)

    def __repr__(self) -> str:
        return f"FaceRecord({self.name!r}, person={self.person_name!r})"


def _is_image(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and p.suffix.lower() in dfljpg.IMAGE_SUFFIXES


def list_images(aligned_dir: Path) -> list[tuple[Path, str | None]]:
    """Loose images in DFL's pack order: top-level files sorted, then sorted sub-folders (persons)."""
    if not aligned_dir.is_dir():
        return []
    entries = sorted(aligned_dir.iterdir(), key=lambda p: p.name)
    out: list[tuple[Path, str | None]] = [(p, None) for p in entries if _is_image(p)]
    for sub in entries:
        if sub.is_dir() and not sub.name.startswith("."):
            out += [(p, sub.name) for p in sorted(sub.iterdir(), key=lambda p: p.name) if _is_image(p)]
    return out


def ensure_not_mixed(aligned_dir: str | os.PathLike[str], action: str) -> None:
    """Refuse an action that renames or deletes loose files while a faceset.pak sits beside them."""
    d = Path(aligned_dir)
    if (d / PAK_NAME).is_file() and list_images(d):
        raise UsageError(f"{d} holds both {PAK_NAME} and loose images; {action} refuses to run until one "
                         "of them is removed (run `neuface unpack` or delete the loose copies)")


class Faceset:
    """Aligned faces of one folder, loose or packed; `len`, iteration, indexing by position or name."""

    is_pak: bool = False

    def __init__(self, root: Path):
        self.root = root

    @staticmethod
    def open(aligned_dir: str | os.PathLike[str]) -> Faceset:
        """A pak faceset if `aligned_dir/faceset.pak` exists, else a folder faceset."""
        root = Path(aligned_dir)
        if not root.is_dir():
            raise UsageError(f"{root}: aligned-faces folder not found")
        if (root / PAK_NAME).is_file() or (root / ZIPREF_NAME).is_file():
            loose = list_images(root)
            if loose:
                warn(f"{root} holds {PAK_NAME} and {len(loose)} loose images; using {PAK_NAME} (as DFL does)")
            return PakFaceset(root)
        return FolderFaceset(root)

    def _load_records(self) -> list[FaceRecord]:
        raise NotImplementedError

    @cached_property
    def _records(self) -> list[FaceRecord]:
        return self._load_records()

    @cached_property
    def _by_name(self) -> dict[str, FaceRecord]:
        return {r.name: r for r in self._records}

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[FaceRecord]:
        return iter(self._records)

    def __getitem__(self, key: int | str) -> FaceRecord:
        if isinstance(key, str):
            try:
                return self._by_name[key]
            except KeyError:
                raise KeyError(f"{self.root}: no face named {key!r}") from None
        return self._records[key]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return [r.name for r in self._records]

    def _check_names(self, updates: Mapping[str, FaceMeta]) -> None:
        unknown = [n for n in updates if n not in self._by_name]
        if unknown:
            raise UsageError(f"{self.root}: no face named {unknown[0]!r} ({len(unknown)} unknown names)")

    def update_metas(self, updates: Mapping[str, FaceMeta]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release file handles (a pak's memory map)."""

    def __enter__(self) -> Faceset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FolderFaceset(Faceset):
    """Loose aligned images (top level, plus one level of person sub-folders)."""

    def __init__(self, root: Path):
        super().__init__(root)
        self._records = self._load_records()  # a folder is listed when it is opened

    def _load_records(self) -> list[FaceRecord]:
        records = []
        for i, (path, person) in enumerate(list_images(self.root)):
            name = path.name if person is None else f"{person}/{path.name}"
            records.append(FaceRecord(name, person, path, i, path.read_bytes, str(path)))
        return records

    def update_metas(self, updates: Mapping[str, FaceMeta]) -> None:
        """Rewrite each named file's metadata atomically (image bytes untouched)."""
        self._check_names(updates)
        for name, meta in updates.items():
            rec = self._by_name[name]
            assert rec.path is not None
            dfljpg.update_meta(rec.path, meta)
            rec._parsed = None


class PakFaceset(Faceset):
    """Faces inside `faceset.pak`, read through a memory map; the sample table is unpickled on first use."""

    is_pak = True

    def __init__(self, root: Path):
        """`root/faceset.pak` (a file or a symlink to one), else the zip range `root/faceset.pak.zipref` names."""
        super().__init__(root)
        self.pak_path = root / PAK_NAME
        if self.pak_path.is_file() or not (root / ZIPREF_NAME).is_file():
            self._reader = PakReader(self.pak_path)
        else:
            ref = ZipRef.read(root / ZIPREF_NAME)
            self._reader = PakReader(ref.zip, ref.offset, ref.size, label=ref.label)

    def __len__(self) -> int:
        return len(self._reader)

    def _load_records(self) -> list[FaceRecord]:
        reader = self._reader
        records = []
        for i, cfg in enumerate(reader.configs()):
            person = cfg.get("person_name")
            name = cfg["filename"] if person is None else f"{person}/{cfg['filename']}"
            records.append(FaceRecord(name, person, None, i, lambda i=i: reader.blob(i),
                                      f"{self.pak_path}:{name}", cfg))
        return records

    @property
    def reader(self) -> PakReader:
        """The memory-mapped pak (fast `blob(i)` reads without touching the sample table)."""
        return self._reader

    def update_metas(self, updates: Mapping[str, FaceMeta]) -> None:
        """Write a new pak with the changed faces (metadata and sample config), verify it, swap it in.

        Records obtained before the call are stale afterwards; index the faceset again.
        """
        self._check_names(updates)
        reader = self._reader
        metas: dict[int, FaceMeta] = {self._by_name[n].index: m for n, m in updates.items()}
        entries = []
        for i, cfg in enumerate(reader.configs()):
            if i not in metas:
                entries.append(PakEntry(cfg, reader.entry_size(i), lambda i=i: reader.blob(i)))
                continue
            source = f"{self.pak_path}:{self._records[i].name}"
            data = dfljpg.with_meta(reader.blob(i), metas[i], source)
            parsed = dfljpg.parse_bytes(data, source)
            new_cfg = sample_config(parsed.meta.to_dict(), cfg["filename"], parsed.shape, cfg.get("person_name"))
            entries.append(PakEntry(new_cfg, len(data),
                                    lambda i=i, s=source: dfljpg.with_meta(reader.blob(i), metas[i], s)))
        write_pak(self.pak_path, entries, description="updating faceset.pak")
        reader.close()
        (self.root / ZIPREF_NAME).unlink(missing_ok=True)  # the zip it was read from stays as it was
        self._reader = PakReader(self.pak_path)
        for cached in ("_records", "_by_name"):
            self.__dict__.pop(cached, None)

    def close(self) -> None:
        self._reader.close()
