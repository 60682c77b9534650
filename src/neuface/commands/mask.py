"""`neuface mask`: Apply or remove XSeg masks on aligned faces (DFL 3.2/4.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuface.commands._context import app_state
from neuface.workspace import Side

COMMAND_SETTINGS = {
    "help": "Apply or remove XSeg masks on aligned faces (DFL 3.2/4.2). Masks are stored in each face's "
            "metadata exactly as DFL's `xseg apply` stores them; works on folders and faceset.pak.",
}


def command(
    ctx: typer.Context,
    side: Annotated[Side, typer.Argument(help="Which faceset: src or dst.")],
    model_dir: Annotated[Path | None, typer.Option(
        "--model-dir", help="Folder with XSeg_256.npy (or a GenericXSeg.zip). Default: <workspace>/model.")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Delete stored XSeg masks instead of applying.")] = False,
    sheet: Annotated[Path | None, typer.Option(
        "--sheet", help="Also write a contact sheet (.png pages or .html) of every face with its mask.")] = None,
    xseg_face_type: Annotated[str | None, typer.Option(
        "--xseg-face-type", help="Face type the XSeg model works on when it has no XSeg_data.dat: "
                                 "h|mf|f|wf|head|same (default wf; 'same' = each face's own).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Faces per XSeg batch.")] = 8,
) -> None:
    from neuface.console import info
    from neuface.xseg.apply import apply_masks, locate_model, remove_masks

    st = app_state(ctx)
    aligned = st.workspace.aligned_dir(side)
    if remove:
        report = remove_masks(aligned, sheet=sheet)
        info(f"removed {report.removed} XSeg masks from {aligned}")
        return
    files = locate_model(model_dir, st.workspace.model_dir)
    report = apply_masks(aligned, files, face_type=xseg_face_type, device=st.device, precision=st.precision,
                         batch_size=batch_size, sheet=sheet)
    skipped = f", skipped {len(report.skipped)} unreadable" if report.skipped else ""
    info(f"stored XSeg masks on {report.masked} of {report.faces} faces in {aligned}{skipped}")
