"""The `neuface` command: root options, then one subcommand per DeepFaceLab script.

Subcommands live in `neuface.commands.<name>` (each a thin shell over a library function) and are
assembled here. Options also come from `<workspace>/neuface.toml`; flags win.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from neuface import __version__
from neuface.commands._context import AppState
from neuface.config import command_tables, load_config, root_options
from neuface.console import error, set_verbosity
from neuface.errors import NeufaceError
from neuface.workspace import ENV_WORKSPACE, Workspace

# Order shown in --help follows DFL's script numbering.
COMMANDS = ("extract", "detect", "sort", "curate", "mask", "pack", "unpack", "train", "export",
            "merge", "run", "demo", "clean", "doctor")


def _no_value_placeholder(params: list) -> list:
    """Flags (`--quiet`, `--dry-run`, `--help`) and counters (`-v`) take no value: typer 0.29's help still shows
    their type (`<bool>`, `<int>`), which reads as if they did. An empty metavar leaves that column blank
    (error messages name options by their flags, not their metavar)."""
    for p in params:
        if isinstance(p, TyperOption) and (p.is_flag or p.count) and p.metavar is None:
            p.metavar = ""
    return params


class _Command(TyperCommand):
    def get_params(self, ctx: typer.Context) -> list:
        return _no_value_placeholder(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx: typer.Context) -> list:
        return _no_value_placeholder(super().get_params(ctx))


app = typer.Typer(
    name="neuface",
    cls=_Group,
    help="From raw video to a live-ready DeepFaceLive .dfm, compatible with DeepFaceLab's files.\n\n"
         "Each subcommand replaces one DFL script; options can also be set in <workspace>/neuface.toml "
         "(flags win).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"neuface {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", "-w", envvar=ENV_WORKSPACE, show_envvar=True,
        help="Workspace folder (DFL layout). Default: $NEUFACE_WORKSPACE, else ./workspace.")] = None,
    device: Annotated[str | None, typer.Option(
        help="Compute device: auto|cpu|cuda|cuda:N. Default: auto (CUDA when available).")] = None,
    precision: Annotated[str | None, typer.Option(
        help="Mixed precision: auto|fp32|bf16|fp16. Default: auto (bf16 where native).")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, show_default=False,
                                                 help="More output.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    ws = Workspace.at(workspace or os.environ.get(ENV_WORKSPACE) or "workspace")
    config = load_config(ws.config_file)
    roots = root_options(config)

    # An option left at its default takes the config's value.
    device = device or str(roots.get("device", "auto"))
    precision = precision or str(roots.get("precision", "auto"))
    verbose = verbose or int(roots.get("verbose", 0))
    quiet = quiet or bool(roots.get("quiet", False))
    level = -1 if quiet else verbose
    set_verbosity(level)
    ctx.obj = AppState(workspace=ws, device=device, precision=precision, verbosity=level, config=config)
    # Per-command tables become click's default_map: flags > neuface.toml > defaults.
    ctx.default_map = {**(ctx.default_map or {}), **command_tables(config)}


def _register() -> None:
    for name in COMMANDS:
        module = importlib.import_module(f"neuface.commands.{name}")
        app.command(name, cls=_Command, help=module.HELP)(module.command)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning NeufaceError into a one-line message and exit code.

    With `argv` given (tests), the exit code is returned instead of exiting.
    """
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="neuface", standalone_mode=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except NeufaceError as exc:
        error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        error("interrupted")
        code = 130
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
