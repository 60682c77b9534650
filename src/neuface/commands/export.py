"""`neuface export`: DeepFaceLive `.dfm` from the workspace's SAEHD model (DFL exportDFM), or `--check` a `.dfm`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuface.commands._context import app_state

COMMAND_SETTINGS = {
    "help": "Export the SAEHD model as a verified DeepFaceLive .dfm (DFL exportDFM), or --check any .dfm.",
}


def command(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Argument(
        help="Output .dfm. Default: <model-dir>/<name>_SAEHD_model.dfm (DFL's name).")] = None,
    model_dir: Annotated[Path | None, typer.Option(
        "--model-dir", help="Model folder. Default: <workspace>/model.")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="Model name (the <name>_SAEHD_* files) when the folder holds several.")] = None,
    fp16: Annotated[bool, typer.Option(
        "--fp16", help="fp16 weights and compute inside, float32 inputs/outputs (about half the size).")] = False,
    opset: Annotated[int, typer.Option(
        "--opset", help="ONNX opset, 12..19 (DeepFaceLive's onnxruntime 1.15.1 loads <= 19).")] = 17,
    check: Annotated[Path | None, typer.Option(
        "--check", metavar="FILE.dfm",
        help="Validate FILE.dfm against DeepFaceLive's contract instead of exporting; exit 1 on FAIL.")] = None,
) -> None:
    from neuface.console import info
    from neuface.export.faces import workspace_faces

    st = app_state(ctx)
    faces = workspace_faces(st.workspace)
    if check is not None:
        from neuface.export.check import check_dfm, format_report

        report = check_dfm(check, probe_images=faces or None)
        for line in format_report(report):
            typer.echo(line)
        if not report.ok:
            raise typer.Exit(1)
        return

    from neuface.export.dfm import export_dfm

    result = export_dfm(model_dir or st.workspace.model_dir, out, name=name, fp16=fp16, opset=opset,
                        probe_faces=faces)
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in result.verification.max_abs_diff.items())
    size_mb = result.path.stat().st_size / 2**20
    info(f"wrote {result.path} ({size_mb:.1f} MiB, {'fp16' if result.fp16 else 'fp32'}, "
         f"resolution {result.report.resolution[0] if result.report.resolution else '?'}) in {result.seconds:.1f} s")
    info(f"verified on {result.n_faces} face(s) {'from the workspace' if faces else '(synthetic: no aligned faces)'}: "
         f"max |onnxruntime - PyTorch| {diffs} (limit {result.verification.tolerance:g})")
