"""`neuface mask`: Apply or remove XSeg masks on aligned faces (DFL 3.2/4.2)."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Apply or remove XSeg masks on aligned faces (DFL 3.2/4.2) (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("mask")
