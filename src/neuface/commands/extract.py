"""`neuface extract`: video -> frames in data_src/ or data_dst/ (DFL scripts 1/2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuface.commands._context import app_state
from neuface.extract.formats import ImageFormat
from neuface.workspace import Side

COMMAND_SETTINGS = {
    "help": "Extract frames from the data_src/data_dst video (DFL scripts 1/2).",
}


def command(
    ctx: typer.Context,
    side: Annotated[Side, typer.Argument(help="Which side: src (the face to learn) or dst (the footage).")],
    video: Annotated[Path | None, typer.Argument(
        help="Video file. Default: the single workspace/data_<side>.* video.", show_default=False)] = None,
    fps: Annotated[float, typer.Option(
        min=0.0, help="Frames per second to keep, by timestamp; 0 keeps every frame.")] = 0.0,
    format: Annotated[ImageFormat, typer.Option(  # named like the flag so neuface.toml's `format` applies
        "--format", help="Frame image format (jpg: quality 95).")] = ImageFormat.png,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace frames already extracted (old ones are deleted only after success).")] = False,
) -> None:
    from neuface.console import info
    from neuface.extract.frames import extract_frames

    st = app_state(ctx)
    result = extract_frames(st.workspace, side, video, fps=fps, fmt=format, force=force)
    replaced = f", replacing {result.replaced}" if result.replaced else ""
    info(f"{result.count} frames ({result.width}x{result.height}) from {result.video.name} -> "
         f"{result.folder} in {result.seconds:.1f} s ({result.frames_per_second:.1f} frames/s{replaced})")
