"""Render `neuface --help` and every subcommand's `--help` as plain text; write or print the snapshot.

    python tests/make_help_snapshot.py          # rewrite tests/data/help_snapshot.json
    python tests/make_help_snapshot.py --print  # the JSON on stdout (what test_help_snapshot compares)

The rendering runs in a child process with a fixed environment (100 columns, no terminal, no colour, an
empty workspace in a temporary folder) so the text depends on neither the terminal nor a neuface.toml:
typer reads some of these variables when it is imported.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "data" / "help_snapshot.json"
WIDTH = 100
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_DROP = ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TERMINAL_WIDTH", "CLICOLOR_FORCE", "NEUFACE_WORKSPACE")


def _render_all() -> dict[str, list[str]]:
    """In this process (environment already fixed): {"neuface": lines, "neuface sort": lines, ...}."""
    from neuface.cli import COMMANDS, main

    out: dict[str, list[str]] = {}
    for cmd in ("", *COMMANDS):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main([cmd, "--help"] if cmd else ["--help"])
        assert code == 0, (cmd, code)
        text = _ANSI.sub("", buf.getvalue())
        lines = [line.rstrip() for line in text.splitlines()]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        out[f"neuface {cmd}".strip()] = lines
    return out


def render() -> dict[str, list[str]]:
    """The snapshot as the child process renders it."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k not in _DROP}
        env.update(COLUMNS=str(WIDTH), LINES="50", TERM="dumb", NO_COLOR="1", _TYPER_FORCE_DISABLE_TERMINAL="1",
                   NEUFACE_WORKSPACE=str(Path(tmp) / "workspace"))
        res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child"], cwd=tmp, env=env,
                             capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"rendering --help failed:\n{res.stderr}")
    return json.loads(res.stdout)


def dumps(snapshot: dict[str, list[str]]) -> str:
    return json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        sys.stdout.write(json.dumps(_render_all()))
    elif sys.argv[1:] == ["--print"]:
        sys.stdout.write(dumps(render()))
    elif not sys.argv[1:]:
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(dumps(render()), encoding="utf-8")
        print(f"wrote {SNAPSHOT}")
    else:
        sys.exit(__doc__)
