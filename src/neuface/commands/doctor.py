"""`neuface doctor`: Show versions, devices, weights found and workspace state."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Show versions, devices, weights found and workspace state (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("doctor")
