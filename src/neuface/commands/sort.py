"""`neuface sort`: Sort aligned faces by one of DFL's methods (DFL 3.1/4.1)."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Sort aligned faces by one of DFL's methods (DFL 3.1/4.1) (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("sort")
