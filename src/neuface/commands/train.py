"""`neuface train`: Train the SAEHD (or XSeg) model (DFL 5_train)."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Train the SAEHD (or XSeg) model (DFL 5_train) (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("train")
