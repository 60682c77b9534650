"""`neuface clean`: empty the workspace, keeping a backup (DFL clear_workspace)."""

from __future__ import annotations

import typer

from neuface.clean import CleanOptions
from neuface.commands._context import app_state
from neuface.commands._options import options_command

HELP = ("Empty the workspace and recreate its layout, moving the old contents to a backup "
        "(DFL clear_workspace).")


@options_command(CleanOptions)
def command(ctx: typer.Context, opts: CleanOptions) -> None:
    from neuface.clean import check_cleanable, clean_workspace
    from neuface.console import info, stdin_is_tty
    from neuface.errors import UsageError

    ws = app_state(ctx).workspace
    check_cleanable(ws)  # refuse before asking anything
    if not opts.yes:
        action = "move everything in it to a backup folder" if opts.backup else "DELETE everything in it"
        if not stdin_is_tty():
            raise UsageError(f"clean would {action} ({ws.root}): pass --yes to confirm (stdin is not a terminal)")
        if not typer.confirm(f"Empty workspace {ws.root} and {action}?", default=False):
            raise typer.Exit(1)
    result = clean_workspace(ws, backup=opts.backup, keep_config=opts.keep_config)
    state = f"{ws.root} is empty" + (f" but for {ws.config_file.name}" if result.kept_config else "")
    if result.backup is not None:
        info(f"moved {result.entries} entries to {result.backup}; {state}")
    elif result.entries:
        info(f"deleted {result.entries} entries; {state}")
    else:
        info(f"{ws.root} was already empty; layout created")
