"""`neuface pack`: Pack aligned faces into faceset.pak (DFL 3.3/4.3)."""

from __future__ import annotations

import typer

from neuface.commands._context import FacesetSide, app_state
from neuface.commands._options import options_command
from neuface.pack.options import PackOptions

HELP = ("Pack aligned faces into aligned/faceset.pak (DFL 3.3/4.3). The pak is verified entry by entry "
        "before any loose file is removed; person sub-folders are kept as person names.")


@options_command(PackOptions)
def command(ctx: typer.Context, side: FacesetSide, opts: PackOptions) -> None:
    from neuface.console import info
    from neuface.pack import pack_faceset

    st = app_state(ctx)
    res = pack_faceset(st.workspace.aligned_dir(side), keep=opts.keep, skip_invalid=opts.skip_invalid)
    info(f"packed {res.packed} faces ({res.bytes / 1e6:.1f} MB) into {res.pak}"
         + (f"; removed {res.removed} loose files" if res.removed else "; loose files kept")
         + (f"; {len(res.skipped)} invalid files left in place" if res.skipped else ""))
