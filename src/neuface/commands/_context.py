"""What the root command passes to every subcommand (workspace, device, precision, verbosity)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import typer

from neuface.workspace import Workspace


@dataclass
class AppState:
    workspace: Workspace
    device: str = "auto"
    precision: str = "auto"
    verbosity: int = 0
    config: dict[str, Any] = field(default_factory=dict)


def app_state(ctx: typer.Context) -> AppState:
    """The AppState set by the root callback (a default one when a command runs standalone)."""
    root = ctx.find_root()
    if isinstance(root.obj, AppState):
        return root.obj
    state = AppState(workspace=Workspace.at())
    root.obj = state
    return state
