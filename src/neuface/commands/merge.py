"""`neuface merge`: Apply a model to a dst video and encode the result."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Apply a model to a dst video and encode the result (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("merge")
