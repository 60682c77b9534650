"""`neuface extract`: video -> frames in data_src/ or data_dst/ (DFL scripts 1/2)."""

from __future__ import annotations

import typer

from neuface.commands._context import VideoSide, app_state
from neuface.commands._options import options_command
from neuface.extract.options import ExtractOptions

HELP = "Extract frames from the data_src/data_dst video (DFL scripts 1/2)."


@options_command(ExtractOptions)
def command(ctx: typer.Context, side: VideoSide, opts: ExtractOptions) -> None:
    from neuface.console import info
    from neuface.extract.frames import extract_frames

    st = app_state(ctx)
    result = extract_frames(st.workspace, side, opts.video, fps=opts.fps, fmt=opts.format, force=opts.force)
    replaced = f", replacing {result.replaced}" if result.replaced else ""
    info(f"{result.count} frames ({result.width}x{result.height}) from {result.video.name} -> "
         f"{result.folder} in {result.seconds:.1f} s ({result.frames_per_second:.1f} frames/s{replaced})")
