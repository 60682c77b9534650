"""`neuface export`: Export the model as a DeepFaceLive .dfm (DFL exportDFM)."""

from __future__ import annotations

import typer

from neuface.commands._context import STUB_SETTINGS, not_available

COMMAND_SETTINGS = {
    **STUB_SETTINGS,
    "help": "Export the model as a DeepFaceLive .dfm (DFL exportDFM) (not available yet).",
}


def command(ctx: typer.Context) -> None:
    not_available("export")
