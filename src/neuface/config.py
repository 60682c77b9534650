"""Options from flags > `neuface.toml` > defaults.

`neuface.toml` lives in the workspace. Top-level keys set root options (`device`, `precision`,
`verbose`, `quiet`); a table per subcommand sets that command's options, named like the flags
(`[extract] fps = 5`, `[train] batch-size = 8`). The CLI hands the tables to click as its
`default_map`, so a flag given on the command line always wins.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from neuface.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT_KEYS = ("device", "precision", "verbose", "quiet")


def _normalise(table: dict[str, Any]) -> dict[str, Any]:
    """Option keys use underscores like click's parameter names; table (command) names keep dashes."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out[key] = _normalise(value)
        else:
            out[key.replace("-", "_")] = value
    return out


def load_config(path: Path) -> dict[str, Any]:
    """Read a neuface.toml (missing file = empty config); a syntax error names the file and line."""
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror}") from exc
    return _normalise(data)


def root_options(config: dict[str, Any]) -> dict[str, Any]:
    """The top-level (root command) options of a config."""
    return {k: config[k] for k in ROOT_KEYS if k in config and not isinstance(config[k], dict)}


def command_tables(config: dict[str, Any]) -> dict[str, Any]:
    """Per-command tables, keyed by subcommand name, as click's default_map."""
    return {k: v for k, v in config.items() if isinstance(v, dict)}
