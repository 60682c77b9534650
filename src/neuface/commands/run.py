"""`neuface run`: the whole pipeline from one config, resumably (extract ... export)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from neuface.commands._context import app_state
from neuface.pipeline.names import Stage

COMMAND_SETTINGS = {
    "help": "Run extract -> detect -> sort -> mask -> pack (src and dst) -> train -> export with each stage's "
            "options from neuface.toml (\\[extract] fps = 5, \\[train] resolution = 64, ...). Finished steps are "
            "skipped; progress goes to workspace/run.log and run_summary.json.",
}


def command(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="Config file with the stage tables. Default: <workspace>/neuface.toml.",
        show_default=False)] = None,
    src: Annotated[Path | None, typer.Option(
        help="Source video (the face to learn). Default: workspace/data_src.*", show_default=False)] = None,
    dst: Annotated[Path | None, typer.Option(
        help="Destination video (the footage). Default: workspace/data_dst.*", show_default=False)] = None,
    src_faceset: Annotated[Path | None, typer.Option(
        help="A ready-made src faceset instead of a src video: faceset.pak, a folder of aligned faces, or a zip "
             "of either; read in place (a zip that stores the pak uncompressed too), else extracted once.",
        show_default=False)] = None,
    dst_faceset: Annotated[Path | None, typer.Option(
        help="A ready-made dst faceset instead of a dst video (e.g. DFL's random_dst_face_set.zip); as "
             "--src-faceset.", show_default=False)] = None,
    pretrained: Annotated[Path | None, typer.Option(
        help="Start the model from a pretrained DFL SAEHD model (folder or zip) at iteration 0, as "
             "`neuface train --pretrained`; later runs continue it.", show_default=False)] = None,
    until: Annotated[Stage | None, typer.Option(help="Stop after this stage.", show_default=False)] = None,
    from_stage: Annotated[Stage | None, typer.Option(
        "--from", help="Run this stage and every later one again, even when up to date.",
        show_default=False)] = None,
    target_iter: Annotated[int | None, typer.Option(
        min=1, help="Train to this iteration (else \\[train] target-iter).", show_default=False)] = None,
) -> None:
    from neuface.config import load_config, root_options
    from neuface.errors import UsageError
    from neuface.pipeline.params import stage_params
    from neuface.pipeline.runner import PipelineError, RunRequest, print_summary, run_pipeline
    from neuface.workspace import Side

    st = app_state(ctx)
    cfg, where = st.config, st.workspace.config_file
    device, precision = st.device, st.precision
    if config is not None:
        if not config.is_file():
            raise UsageError(f"--config {config}: no such file")
        cfg, where = load_config(config), config
        roots = root_options(cfg)  # the file's device/precision apply unless given as flags/workspace config
        device = device if device != "auto" else str(roots.get("device", "auto"))
        precision = precision if precision != "auto" else str(roots.get("precision", "auto"))
        # Its [run] table fills the options not given as flags (the workspace's [run] already did).
        table = stage_params("run", cfg.get("run"), where=str(config))
        src, dst, until = src or table["src"], dst or table["dst"], until or table["until"]
        src_faceset, dst_faceset = src_faceset or table["src_faceset"], dst_faceset or table["dst_faceset"]
        pretrained = pretrained or table["pretrained"]
        from_stage, target_iter = from_stage or table["from_stage"], target_iter or table["target_iter"]
    req = RunRequest(config=cfg, config_path=where, videos={Side.src: src, Side.dst: dst},
                     from_stage=from_stage, until=until, target_iter=target_iter, device=device,
                     precision=precision, facesets={Side.src: src_faceset, Side.dst: dst_faceset},
                     pretrained=pretrained)
    try:
        result = run_pipeline(st.workspace, req)
    except PipelineError as exc:
        if exc.result is not None:
            print_summary(exc.result)
        raise
    print_summary(result)
