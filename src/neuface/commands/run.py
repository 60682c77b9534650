"""`neuface run`: the whole pipeline from one config, resumably (extract ... export)."""

from __future__ import annotations

import typer

from neuface.commands._context import app_state
from neuface.commands._options import options_command
from neuface.pipeline.options import RunOptions

HELP = ("Run extract -> detect -> sort -> mask -> pack (src and dst) -> train -> export with each stage's "
        "options from neuface.toml (\\[extract] fps = 5, \\[train] resolution = 64, ...). Finished steps are "
        "skipped; progress goes to workspace/run.log and run_summary.json.")


@options_command(RunOptions)
def command(ctx: typer.Context, opts: RunOptions) -> None:
    from neuface.config import load_config, root_options
    from neuface.errors import UsageError
    from neuface.pipeline.runner import PipelineError, RunRequest, print_summary, run_pipeline
    from neuface.workspace import Side

    st = app_state(ctx)
    cfg, where = st.config, st.workspace.config_file
    device, precision = st.device, st.precision
    if opts.config is not None:
        if not opts.config.is_file():
            raise UsageError(f"--config {opts.config}: no such file")
        cfg, where = load_config(opts.config), opts.config
        roots = root_options(cfg)  # the file's device/precision apply unless given as flags/workspace config
        device = device if device != "auto" else str(roots.get("device", "auto"))
        precision = precision if precision != "auto" else str(roots.get("precision", "auto"))
        # Its [run] table fills the options not given as flags (the workspace's [run] already did).
        opts = opts.filled_from(RunOptions.from_table(cfg.get("run"), where=str(opts.config)))
    req = RunRequest(config=cfg, config_path=where, videos={Side.src: opts.src, Side.dst: opts.dst},
                     from_stage=opts.from_stage, until=opts.until, target_iter=opts.target_iter, device=device,
                     precision=precision, facesets={Side.src: opts.src_faceset, Side.dst: opts.dst_faceset},
                     pretrained=opts.pretrained)
    try:
        result = run_pipeline(st.workspace, req)
    except PipelineError as exc:
        if exc.result is not None:
            print_summary(exc.result)
        raise
    print_summary(result)
