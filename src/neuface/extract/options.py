"""`neuface extract`'s options, declared once for the CLI, `[extract]` in neuface.toml and `neuface run`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neuface.extract.formats import ImageFormat
from neuface.optionspec import StageOptions, option


@dataclass(frozen=True)
class ExtractOptions(StageOptions):
    """One extraction: which video, at what rate, into which image format."""

    STAGE = "extract"

    video: Path | None = option(None, argument=True, show_default=False,
                                help="Video file. Default: the single workspace/data_<side>.* video.")
    fps: float = option(0.0, min=0.0, help="Frames per second to keep, by timestamp; 0 keeps every frame.")
    format: ImageFormat = option(ImageFormat.png, flags="--format", help="Frame image format (jpg: quality 95).")
    force: bool = option(False, flags="--force",
                         help="Replace frames already extracted (old ones are deleted only after success).")
