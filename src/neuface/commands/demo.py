"""`neuface demo`: Build a demo workspace from bundled public-domain faces and run the pipeline."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Build a demo workspace from bundled public-domain faces and run the pipeline (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("demo")
