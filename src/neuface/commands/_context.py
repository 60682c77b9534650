"""What the root command passes to every subcommand (workspace, device, precision, verbosity)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from neuface.workspace import Side, Workspace

# The side argument of a per-side command (`neuface detect src`), by what the command reads.
VideoSide = Annotated[Side, typer.Argument(help="Which side: src (the face to learn) or dst (the footage).")]
FacesetSide = Annotated[Side, typer.Argument(help="Which faceset: src or dst.")]


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
