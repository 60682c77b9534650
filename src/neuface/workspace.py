"""Every path of a neuface/DFL workspace, and nothing else.

The layout is DeepFaceLab's, so `--workspace` can point at an existing DFL workspace:

    workspace/
      data_src.mp4   data_dst.mp4        input videos (any video extension)
      data_src/      data_dst/           extracted frames 00001.png ...
        aligned/  aligned_debug/  aligned_trash/
      model/                             model folders' files (SAEHD, XSeg)
      neuface.toml                       optional options file (flags win)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".flv", ".wmv", ".mpg", ".mpeg", ".ts")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
CONFIG_NAME = "neuface.toml"
RUN_STATE_NAME = ".neuface-run-state.json"  # what `neuface run` remembers (neuface.pipeline.state writes it)
ENV_WORKSPACE = "NEUFACE_WORKSPACE"


class Side(str, Enum):
    """Which faceset a command works on: the source identity or the destination footage."""

    src = "src"
    dst = "dst"


def default_workspace_root() -> Path:
    """`$NEUFACE_WORKSPACE`, else `./workspace`."""
    return Path(os.environ.get(ENV_WORKSPACE) or "workspace")


@dataclass(frozen=True)
class Workspace:
    """Paths inside one workspace folder (nothing is created until `ensure_layout`)."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None) -> Workspace:
        return cls(Path(root) if root is not None else default_workspace_root())

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def run_log(self) -> Path:
        return self.root / "run.log"

    def frames_dir(self, side: Side) -> Path:
        return self.root / f"data_{Side(side).value}"

    def aligned_dir(self, side: Side) -> Path:
        return self.frames_dir(side) / "aligned"

    def aligned_debug_dir(self, side: Side) -> Path:
        return self.frames_dir(side) / "aligned_debug"

    def aligned_trash_dir(self, side: Side) -> Path:
        return self.frames_dir(side) / "aligned_trash"

    def pak_file(self, side: Side) -> Path:
        return self.aligned_dir(side) / "faceset.pak"

    def video_candidates(self, side: Side) -> list[Path]:
        """Files named `data_<side>.<video ext>` in the workspace root."""
        stem = f"data_{Side(side).value}"
        if not self.root.is_dir():
            return []
        return sorted(
            p for p in self.root.iterdir()
            if p.is_file() and p.stem == stem and p.suffix.lower() in VIDEO_EXTENSIONS
        )

    @property
    def run_state_file(self) -> Path:
        return self.root / RUN_STATE_NAME

    def last_run_video(self, side: Side) -> Path | None:
        """The video the last `neuface run` extracted for this side (its stamp), or None."""
        import json

        try:
            stamps = json.loads(self.run_state_file.read_text(encoding="utf-8"))["stamps"]
            video = stamps[f"extract {Side(side).value}"]["options"]["video"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(video, str) or not video:
            return None
        path = Path(video)
        return path if path.is_absolute() else self.root / path

    def layout_dirs(self) -> list[Path]:
        """The folders an empty workspace has (what `clean` recreates)."""
        return [self.frames_dir(Side.src), self.aligned_dir(Side.src),
                self.frames_dir(Side.dst), self.aligned_dir(Side.dst), self.model_dir]

    def ensure_layout(self) -> None:
        for d in self.layout_dirs():
            d.mkdir(parents=True, exist_ok=True)

    def looks_like_workspace(self) -> bool:
        """True when the folder has the DFL/neuface layout (or is an empty folder)."""
        if not self.root.is_dir():
            return False
        entries = {p.name for p in self.root.iterdir()}
        if not entries:
            return True
        markers = {"data_src", "data_dst", "model", CONFIG_NAME}
        return bool(entries & markers) or bool(self.video_candidates(Side.src) or self.video_candidates(Side.dst))

    def frame_files(self, side: Side) -> list[Path]:
        """Extracted frames of a side, sorted by name."""
        d = self.frames_dir(side)
        if not d.is_dir():
            return []
        return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
