"""`neuface extract`: Extract frames from data_src/data_dst video (DFL scripts 1/2)."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Extract frames from data_src/data_dst video (DFL scripts 1/2) (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("extract")
