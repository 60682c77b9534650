"""`neuface mask`: Apply or remove XSeg masks on aligned faces (DFL 3.2/4.2)."""

from __future__ import annotations

import typer

from neuface.commands._context import FacesetSide, app_state
from neuface.commands._options import options_command
from neuface.xseg.options import MaskOptions

HELP = ("Apply or remove XSeg masks on aligned faces (DFL 3.2/4.2). Masks are stored in each face's "
        "metadata exactly as DFL's `xseg apply` stores them; works on folders and faceset.pak.")


@options_command(MaskOptions)
def command(ctx: typer.Context, side: FacesetSide, opts: MaskOptions) -> None:
    from neuface.console import info
    from neuface.xseg.apply import apply_masks, locate_model, remove_masks

    st = app_state(ctx)
    aligned = st.workspace.aligned_dir(side)
    if opts.remove:
        report = remove_masks(aligned, sheet=opts.sheet)
        info(f"removed {report.removed} XSeg masks from {aligned}")
        return
    files = locate_model(opts.model_dir, st.workspace.model_dir)
    report = apply_masks(aligned, files, face_type=opts.xseg_face_type, device=st.device, precision=st.precision,
                         batch_size=opts.batch_size, sheet=opts.sheet)
    skipped = f", skipped {len(report.skipped)} unreadable" if report.skipped else ""
    info(f"stored XSeg masks on {report.masked} of {report.faces} faces in {aligned}{skipped}")
