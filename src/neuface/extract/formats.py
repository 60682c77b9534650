"""Output image formats for extracted frames (import-light: the CLI reads this at start-up)."""

from __future__ import annotations

from enum import Enum

JPEG_QUALITY = 95  # DFL's jpg frames use quality 95.
# zlib level 1: PNG stays lossless, and frames are transient input for detection, so speed beats size
# (level 1 is ~1.5x faster than 3 and ~4x faster than ffmpeg's default for ~7% more bytes).
PNG_COMPRESSION = 1


class ImageFormat(str, Enum):
    """Frame file format; names match DFL's (`00001.png`, `00002.png`, ...)."""

    png = "png"
    jpg = "jpg"

    @property
    def suffix(self) -> str:
        return f".{self.value}"


def frame_name(index: int, fmt: ImageFormat) -> str:
    """DFL's frame file name: 1-based, zero-padded to five digits (`00001.png`)."""
    return f"{index:05d}{fmt.suffix}"
