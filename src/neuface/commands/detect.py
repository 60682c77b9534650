"""`neuface detect`: frames -> aligned faces with DFL metadata in aligned/ (DFL scripts 3/4)."""

from __future__ import annotations

import typer

from neuface.commands._context import VideoSide, app_state
from neuface.commands._options import options_command
from neuface.detect.options import DetectConfig

HELP = "Detect, align and save faces into data_<side>/aligned/ (DFL scripts 3/4)."


@options_command(DetectConfig)
def command(ctx: typer.Context, side: VideoSide, opts: DetectConfig) -> None:
    from neuface.detect.pipeline import run_detect

    st = app_state(ctx)
    run_detect(st.workspace, side, opts.replace(device=st.device), force=opts.force,
               redo_deleted_debug=opts.redo_deleted_debug)
