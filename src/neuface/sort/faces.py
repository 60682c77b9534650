"""Which files a sort sees, and how one face is read (image and DFL metadata) in a worker process.

DFL sorts every image in the aligned folder (not sub-folders), in sorted-name order, and treats files
without DFL metadata specially (most methods trash them). The same listing is used here so a sort has the
same input and tie order as DFL's. Metadata is read only through the faceset API.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuface.errors import FacesetFormatError

if TYPE_CHECKING:
    from neuface.faceset import FaceMeta

# DFL's pathex.get_image_paths extensions (compared case-insensitively).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
# Names starting with this are a sort's own in-flight files (see rename.py); never inputs.
HIDDEN_PREFIX = "."


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name as DFL sorts its path strings."""
    if not folder.is_dir():
        return []
    names = sorted(
        e.name for e in os.scandir(folder)
        if e.is_file() and not e.name.startswith(HIDDEN_PREFIX) and Path(e.name).suffix.lower() in IMAGE_SUFFIXES
    )
    return [folder / n for n in names]


def parse_meta_or_none(data: bytes, path: Path) -> FaceMeta | None:
    """The face's DFL metadata, or None for an image DFL would not call a DFL image."""
    from neuface.faceset.dfljpg import parse_bytes

    try:
        return parse_bytes(data, str(path)).meta
    except FacesetFormatError:
        return None


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FacesetFormatError(f"{path}: cannot read: {exc.strerror}") from exc


def decode_image(data: bytes, path: Path) -> np.ndarray:
    """BGR uint8 image (grey/alpha normalised to 3 channels); a one-line error naming an unreadable file."""
    from neuface.faceset.dfljpg import decode_image as decode

    if not data:
        raise FacesetFormatError(f"{path}: empty file")
    return decode(data, str(path))


def read_image(path: Path) -> np.ndarray:
    return decode_image(read_bytes(path), path)


@dataclass
class Face:
    """One input file, read lazily: workers touch only what their metric needs."""

    path: Path
    _data: bytes | None = field(default=None, repr=False)
    _meta: Any = field(default=None, repr=False)
    _meta_read: bool = field(default=False, repr=False)
    _image: np.ndarray | None = field(default=None, repr=False)

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = read_bytes(self.path)
        return self._data

    @property
    def meta(self) -> FaceMeta | None:
        if not self._meta_read:
            self._meta = parse_meta_or_none(self.data, self.path)
            self._meta_read = True
        return self._meta

    @property
    def is_dfl(self) -> bool:
        return self.meta is not None

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            self._image = decode_image(self.data, self.path)
        return self._image

    @property
    def landmarks(self) -> np.ndarray:
        assert self.meta is not None
        return np.asarray(self.meta.landmarks)

    def hull_masked(self) -> np.ndarray:
        """The image times DFL's landmark hull mask (default eyebrow lift), back to uint8, as DFL does."""
        from neuface.dfl.landmarks import get_image_hull_mask

        img = self.image
        return (img * get_image_hull_mask(img.shape, self.landmarks)).astype(np.uint8)
