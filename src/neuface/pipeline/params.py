"""A stage's options from a neuface.toml table, parsed exactly as `neuface <stage>` parses them.

Why go through the command: the subcommand's signature is the one place that knows each option's name,
type and default. Parsing the table with that same signature (click's default_map, the mechanism that
already feeds neuface.toml to the subcommands) means `[detect] size = 256` means the same thing under
`neuface run` as under `neuface detect`, and a new option added to a stage works in `run` at once.
Unlike click's default_map, an unknown key is an error here: a typo in a config that drives a long
unattended job should stop it before it starts.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer

from neuface.errors import UsageError


@functools.cache
def _parser(stage: str) -> Any:
    """A click command with the stage command's parameters whose callback returns the parsed values."""
    import typer.main

    module = importlib.import_module(f"neuface.commands.{stage}")
    command: Callable[..., Any] = module.command

    @functools.wraps(command)
    def grab(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    app = typer.Typer(add_completion=False)
    app.command(stage)(grab)
    return typer.main.get_command(app)


def option_names(stage: str) -> list[str]:
    """The stage command's parameter names (neuface.toml keys, with underscores)."""
    return [p.name for p in _parser(stage).params if p.name]


def split_table(table: Mapping[str, Any] | None, side: str | None) -> dict[str, Any]:
    """A stage table's plain keys, overlaid with its `[<stage>.<side>]` sub-table for that side."""
    table = dict(table or {})
    out = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if side is not None and isinstance(table.get(side), dict):
        out.update(table[side])
    return out


def check_table(stage: str, table: Mapping[str, Any] | None, where: str) -> None:
    """Refuse keys the stage does not have (sub-tables `src`/`dst` are checked with their keys)."""
    known = set(option_names(stage))
    table = dict(table or {})
    for key, value in table.items():
        if isinstance(value, dict):
            if key not in ("src", "dst"):
                raise UsageError(f"{where}: [{stage}.{key}]: only [{stage}.src] and [{stage}.dst] sub-tables exist")
            check_table(stage, value, where)
        elif key not in known:
            names = ", ".join(sorted(n.replace("_", "-") for n in known if n != "side"))
            raise UsageError(f"{where}: [{stage}] has no option {key.replace('_', '-')!r} (options: {names})")


def stage_params(stage: str, table: Mapping[str, Any] | None, args: list[str] | None = None,
                 where: str = "neuface.toml") -> dict[str, Any]:
    """The values `neuface <stage> ARGS` would receive with `table` as its config, as a dict.

    `args` are the command's positional arguments (e.g. ["src"]); a bad value raises UsageError naming
    the config file and the table.
    """
    check_table(stage, {k: v for k, v in (table or {}).items() if not isinstance(v, dict)}, where)
    try:
        values = _parser(stage).main(args=list(args or []), default_map=dict(table or {}), standalone_mode=False,
                                     prog_name=f"neuface {stage}")
    except typer.TyperException as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        raise UsageError(f"{where}: [{stage}]: {message}") from exc
    values = dict(values)
    values.pop("ctx", None)
    return values


def plain(value: Any) -> Any:
    """A JSON-friendly form of a parsed option (enums by value, paths as strings) for stamps and logs."""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value") and not isinstance(value, int | float | str | bool):
        return value.value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
