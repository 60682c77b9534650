"""`neuface curate`: flag the faces DFL's guide says to delete by hand, with a reason each (issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuface.commands._context import app_state
from neuface.curate.options import HELP, CurateOptions
from neuface.workspace import Side

COMMAND_SETTINGS = {
    "help": "Find badly aligned, occluded, blurry, cut-off, badly exposed faces and faces of other people; "
            "write curate.json and a review sheet. Dry run unless --apply (moves them to aligned_trash/<reason>/; "
            "--restore puts them back).",
}
_D = CurateOptions()


def _opt(name: str) -> str:
    return HELP[name]


def command(
    ctx: typer.Context,
    side: Annotated[Side, typer.Argument(help="Which faces: src or dst (data_<side>/aligned/, folder or pak).")],
    sheet: Annotated[Path | None, typer.Option(
        help="Also write a review sheet, grouped by reason, worst first: FILE.png (pages of 100) or FILE.html.",
        show_default=False)] = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Where to write the verdicts. Default: data_<side>/curate.json.", show_default=False)] = None,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Move the flagged faces to aligned_trash/<reason>/ (a pak is repacked). Never deletes.")
    ] = False,
    restore: Annotated[bool, typer.Option(
        "--restore", help="Put back every face an earlier --apply moved, exactly; score nothing.")] = False,
    keep_rare_angles: Annotated[bool, typer.Option(
        "--keep-rare-angles/--no-keep-rare-angles",
        help="Keep a blurry face when few sharp faces share its yaw/pitch.")] = _D.keep_rare_angles,
    misalign_max: Annotated[float, typer.Option(help=_opt("misalign_max"))] = _D.misalign_max,
    shape_max: Annotated[float, typer.Option(help=_opt("shape_max"))] = _D.shape_max,
    occlusion_max: Annotated[float, typer.Option(help=_opt("occlusion_max"))] = _D.occlusion_max,
    mask_occlusion_max: Annotated[float, typer.Option(help=_opt("mask_occlusion_max"))] = _D.mask_occlusion_max,
    blur_z: Annotated[float, typer.Option(help=_opt("blur_z"))] = _D.blur_z,
    rare_angle_min: Annotated[int, typer.Option(help=_opt("rare_angle_min"))] = _D.rare_angle_min,
    angle_bin: Annotated[float, typer.Option(help=_opt("angle_bin"))] = _D.angle_bin,
    identity_max: Annotated[float, typer.Option(help=_opt("identity_max"))] = _D.identity_max,
    identity_z: Annotated[float, typer.Option(help=_opt("identity_z"))] = _D.identity_z,
    identity_floor: Annotated[float, typer.Option(help=_opt("identity_floor"))] = _D.identity_floor,
    cut_max: Annotated[float, typer.Option(help=_opt("cut_max"))] = _D.cut_max,
    exposure_max: Annotated[float, typer.Option(help=_opt("exposure_max"))] = _D.exposure_max,
    clip_max: Annotated[float, typer.Option(help=_opt("clip_max"))] = _D.clip_max,
    jobs: Annotated[int, typer.Option(min=0, help="Worker processes; 0 = one per core.")] = 0,
) -> None:
    from neuface.console import info
    from neuface.curate.curator import curate_aligned, restore_aligned
    from neuface.errors import UsageError

    ws = app_state(ctx).workspace
    aligned, trash = ws.aligned_dir(side), ws.aligned_trash_dir(side)
    if restore:
        if apply:
            raise UsageError("--apply and --restore exclude each other")
        report = restore_aligned(aligned, trash)
        info(f"restored {report.total} faces to {aligned}")
        return
    # Every threshold option has its CurateOptions field's name: take them all from the parsed arguments.
    thresholds = {k: v for k, v in locals().items() if k in CurateOptions.__dataclass_fields__ and k != "jobs"}
    opts = CurateOptions(**thresholds, jobs=jobs or None)
    out = json_path or ws.frames_dir(side) / "curate.json"
    result = curate_aligned(aligned, trash, out, opts, sheet=sheet, apply=apply)
    counts: dict[str, int] = {}
    for reason in result.flagged.values():
        counts[reason] = counts.get(reason, 0) + 1
    summary = ", ".join(f"{n} {r}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"
    info(f"{len(result.flagged)} of {len(result.verdicts)} faces flagged ({summary}); verdicts: {out}")
    for path in result.sheet_files:
        info(f"sheet: {path}")
    if result.moved is not None:
        info(f"moved {result.moved.total} faces to {trash}/<reason>/ (undo: neuface curate {side.value} --restore)")
    elif result.flagged:
        info("dry run: nothing moved (--apply moves them to aligned_trash/<reason>/)")
