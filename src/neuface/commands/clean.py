"""`neuface clean`: empty the workspace, keeping a backup (DFL clear_workspace)."""

from __future__ import annotations

from typing import Annotated

import typer

from neuface.commands._context import app_state

COMMAND_SETTINGS = {
    "help": "Empty the workspace and recreate its layout, moving the old contents to a backup "
            "(DFL clear_workspace).",
}


def command(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    backup: Annotated[bool, typer.Option(
        "--backup/--no-backup",
        help="Move the old contents to workspace_backup_<timestamp>/ beside the workspace (default), "
             "or delete them.")] = True,
    keep_config: Annotated[bool, typer.Option(
        "--keep-config/--no-keep-config",
        help="Keep neuface.toml in the emptied workspace (a copy; the backup has it too).")] = True,
) -> None:
    from neuface.clean import check_cleanable, clean_workspace
    from neuface.console import info, stdin_is_tty
    from neuface.errors import UsageError

    ws = app_state(ctx).workspace
    check_cleanable(ws)  # refuse before asking anything
    if not yes:
        action = "move everything in it to a backup folder" if backup else "DELETE everything in it"
        if not stdin_is_tty():
            raise UsageError(f"clean would {action} ({ws.root}): pass --yes to confirm (stdin is not a terminal)")
        if not typer.confirm(f"Empty workspace {ws.root} and {action}?", default=False):
            raise typer.Exit(1)
    result = clean_workspace(ws, backup=backup, keep_config=keep_config)
    state = f"{ws.root} is empty" + (f" but for {ws.config_file.name}" if result.kept_config else "")
    if result.backup is not None:
        info(f"moved {result.entries} entries to {result.backup}; {state}")
    elif result.entries:
        info(f"deleted {result.entries} entries; {state}")
    else:
        info(f"{ws.root} was already empty; layout created")
