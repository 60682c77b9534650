"""`neuface doctor`: versions, devices, weights found and workspace state; exit 0 when usable."""

from __future__ import annotations

import typer

from neuface.commands._context import app_state
from neuface.commands._options import options_command
from neuface.doctor import DoctorOptions

HELP = ("Show versions, the device and precision auto picks, CUDA, face-model weights and the "
        "workspace state; exit 0 when neuface is usable.")


@options_command(DoctorOptions)
def command(ctx: typer.Context, opts: DoctorOptions) -> None:
    import json

    from neuface.console import error
    from neuface.doctor import collect, render

    st = app_state(ctx)
    report = collect(st.workspace, device=st.device, precision=st.precision)
    if opts.as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        render(report)
    if not report.usable:
        for c in report.failures:
            error(f"{c.section}/{c.name}: {c.value}")
        raise typer.Exit(1)
