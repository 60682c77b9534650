"""`neuface merge`: apply a model to a dst video and encode the result (DFL's merger + video script)."""

from __future__ import annotations

import typer

from neuface.commands._context import app_state
from neuface.commands._options import options_command
from neuface.merge.options import MergeOptions

HELP = ("Apply a model (.dfm or SAEHD model folder) to a dst video: swapped video with the dst's frame rate "
        "and audio, PNG frames (--frames-dir) or a before/after preview (--preview N). Marks the output as "
        "synthetic media (metadata, and a visible label unless --no-label).")


@options_command(MergeOptions)
def command(ctx: typer.Context, opts: MergeOptions) -> None:
    from neuface.merge.pipeline import run_merge

    st = app_state(ctx)
    run_merge(st.workspace, opts.replace(device=st.device, precision=st.precision))
