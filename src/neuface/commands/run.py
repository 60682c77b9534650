"""`neuface run`: Run the whole pipeline from a config, resumably."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Run the whole pipeline from a config, resumably (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("run")
