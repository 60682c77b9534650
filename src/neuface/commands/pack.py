"""`neuface pack`: Pack aligned faces into faceset.pak (DFL 3.3/4.3)."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Pack aligned faces into faceset.pak (DFL 3.3/4.3) (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("pack")
