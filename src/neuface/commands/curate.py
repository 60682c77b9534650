"""`neuface curate`: flag the faces DFL's guide says to delete by hand, with a reason each (issue 18)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import typer

from neuface.commands._context import app_state
from neuface.commands._options import options_command
from neuface.curate.options import CurateOptions
from neuface.workspace import Side

HELP = ("Find badly aligned, occluded, blurry, cut-off, badly exposed faces and faces of other people; "
        "write curate.json and a review sheet. Dry run unless --apply (moves them to aligned_trash/<reason>/; "
        "--restore puts them back).")


@options_command(CurateOptions)
def command(
    ctx: typer.Context,
    side: Annotated[Side, typer.Argument(help="Which faces: src or dst (data_<side>/aligned/, folder or pak).")],
    opts: CurateOptions,
) -> None:
    from neuface.console import info
    from neuface.curate.curator import curate_aligned, restore_aligned
    from neuface.errors import UsageError

    ws = app_state(ctx).workspace
    aligned, trash = ws.aligned_dir(side), ws.aligned_trash_dir(side)
    if opts.restore:
        if opts.apply:
            raise UsageError("--apply and --restore exclude each other")
        report = restore_aligned(aligned, trash)
        info(f"restored {report.total} faces to {aligned}")
        return
    out = opts.verdicts_path(ws.frames_dir(side))
    result = curate_aligned(aligned, trash, out, opts, sheet=opts.sheet, apply=opts.apply)
    summary = ", ".join(f"{n} {r}" for r, n in Counter(result.flagged.values()).most_common()) or "none"
    info(f"{len(result.flagged)} of {len(result.verdicts)} faces flagged ({summary}); verdicts: {out}")
    for path in result.sheet_files:
        info(f"sheet: {path}")
    if result.moved is not None:
        info(f"moved {result.moved.total} faces to {trash}/<reason>/ (undo: neuface curate {side.value} --restore)")
    elif result.flagged:
        info("dry run: nothing moved (--apply moves them to aligned_trash/<reason>/)")
