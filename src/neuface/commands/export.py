"""`neuface export`: DeepFaceLive `.dfm` from the workspace's SAEHD model (DFL exportDFM), or `--check` a `.dfm`."""

from __future__ import annotations

import typer

from neuface.commands._context import app_state
from neuface.commands._options import options_command
from neuface.export.options import ExportOptions

HELP = "Export the SAEHD model as a verified DeepFaceLive .dfm (DFL exportDFM), or --check any .dfm."


@options_command(ExportOptions)
def command(ctx: typer.Context, opts: ExportOptions) -> None:
    from neuface.console import info
    from neuface.export.faces import workspace_faces

    st = app_state(ctx)
    faces = workspace_faces(st.workspace)
    if opts.check is not None:
        from neuface.export.check import check_dfm, format_report

        report = check_dfm(opts.check, probe_images=faces or None)
        for line in format_report(report):
            typer.echo(line)
        if not report.ok:
            raise typer.Exit(1)
        return

    from neuface.export.dfm import export_dfm

    result = export_dfm(opts.model_dir or st.workspace.model_dir, opts.out, name=opts.name, fp16=opts.fp16,
                        opset=opts.opset, probe_faces=faces)
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in result.verification.max_abs_diff.items())
    size_mb = result.path.stat().st_size / 2**20
    info(f"wrote {result.path} ({size_mb:.1f} MiB, {'fp16' if result.fp16 else 'fp32'}, "
         f"resolution {result.report.resolution[0] if result.report.resolution else '?'}) in {result.seconds:.1f} s")
    info(f"verified on {result.n_faces} face(s) {'from the workspace' if faces else '(synthetic: no aligned faces)'}: "
         f"max |onnxruntime - PyTorch| {diffs} (limit {result.verification.tolerance:g})")
