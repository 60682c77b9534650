"""`neuface unpack`: Unpack faceset.pak into aligned faces (DFL 3.4/4.4)."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Unpack faceset.pak into aligned faces (DFL 3.4/4.4) (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("unpack")
