"""`neuface clean`: Empty the workspace, keeping a backup (DFL clear_workspace)."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Empty the workspace, keeping a backup (DFL clear_workspace) (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("clean")
