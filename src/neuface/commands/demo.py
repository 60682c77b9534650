"""`neuface demo`: the whole pipeline on two public-domain portraits shipped inside dependencies, offline."""

from __future__ import annotations

import typer

from neuface.commands._context import app_state
from neuface.commands._options import options_command
from neuface.pipeline.options import DemoOptions

HELP = ("Make two short clips from public-domain portraits that ship inside installed packages (src: Grace "
        "Hopper, matplotlib's sample photo; dst: Eileen Collins, scikit-image's astronaut), run the whole "
        "pipeline on them with tiny settings, and end with a verified whole_face .dfm, a preview PNG of the "
        "swap and a summary. Offline; one to two minutes on 2 CPU cores. Running it again skips finished steps.")


@options_command(DemoOptions)
def command(ctx: typer.Context, opts: DemoOptions) -> None:
    from neuface.console import info
    from neuface.pipeline.demo import run_demo
    from neuface.pipeline.runner import print_summary

    st = app_state(ctx)
    res = run_demo(opts.out, device=st.device, precision=st.precision, target_iter=opts.target_iter)
    print_summary(res.run)
    info(res.check_lines[0] + " (neuface export --check)")
    info(f"demo finished in {res.seconds:.0f} s")
    info(f"  model:   {res.dfm}  (load it in DeepFaceLive's Face Swapper)")
    info(f"  preview: {res.preview}  (dst face | swapped | mask | blended, run through the .dfm)")
    info(f"  log:     {res.workspace.run_log}")
    info(f"next: `neuface -w {res.workspace.root} run --target-iter 2000` trains on (finished steps are skipped); "
         f"`neuface -w {res.workspace.root} export --check {res.dfm}` checks the file")
