"""`neuface unpack`: Unpack faceset.pak into aligned faces (DFL 3.4/4.4)."""

from __future__ import annotations

import typer

from neuface.commands._context import FacesetSide, app_state
from neuface.commands._options import options_command
from neuface.pack.options import UnpackOptions

HELP = ("Unpack aligned/faceset.pak into byte-identical aligned images (DFL 3.4/4.4), person sub-folders "
        "included. The pak is removed only after every face is written and verified.")


@options_command(UnpackOptions)
def command(ctx: typer.Context, side: FacesetSide, opts: UnpackOptions) -> None:
    from neuface.console import info
    from neuface.pack import unpack_faceset

    st = app_state(ctx)
    res = unpack_faceset(st.workspace.aligned_dir(side), keep=opts.keep)
    info(f"unpacked {res.written} faces ({res.bytes / 1e6:.1f} MB)"
         + (f", {res.already_present} already present" if res.already_present else "")
         + ("; removed faceset.pak" if res.pak_removed else "; faceset.pak kept"))
