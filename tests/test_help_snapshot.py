"""Every subcommand's --help (options, types, defaults) against tests/data/help_snapshot.json.

A change to an option shows up here as a diff of the help text. When it is intended, regenerate with
`python tests/make_help_snapshot.py` and commit the JSON with the change.
"""

from __future__ import annotations

import difflib
import json

import pytest

from make_help_snapshot import SNAPSHOT, dumps, render
from neuface.cli import COMMANDS


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[str]]:
    return render()


def test_help_matches_snapshot(rendered: dict[str, list[str]]) -> None:
    want = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert list(rendered) == ["neuface", *(f"neuface {c}" for c in COMMANDS)]
    if rendered != want:
        diff = "".join(difflib.unified_diff(dumps(want).splitlines(True), dumps(rendered).splitlines(True),
                                            "help_snapshot.json", "now"))
        raise AssertionError(f"--help changed; if intended run `python tests/make_help_snapshot.py`:\n{diff}")


def _option_rows(lines: list[str]) -> dict[str, str]:
    """{option name: the word after the row's names} for each option row: its `<type>`, or its help's first word."""
    out: dict[str, str] = {}
    for line in lines:
        words = line.strip("│ ").split()
        if not line.startswith("│ -") or not words:
            continue
        names = words[:next((i for i, w in enumerate(words) if not w.startswith("-")), len(words))]
        after = words[len(names)] if len(names) < len(words) else ""
        out.update({n: after for n in names})
    return out


def test_flags_show_no_value_placeholder(rendered: dict[str, list[str]]) -> None:
    """--quiet, --dry-run, --help and -v take no value, so no `<type>` follows them; options that do keep it."""
    lines = [line for text in rendered.values() for line in text]
    assert not [line for line in lines if "<bool>" in line]
    for cmd, text in rendered.items():
        rows = _option_rows(text)
        assert not rows["--help"].startswith("<"), cmd
    rows = _option_rows(rendered["neuface"])
    assert not rows["--quiet"].startswith("<") and not rows["--verbose"].startswith("<")
    rows = _option_rows(rendered["neuface sort"])
    assert not rows["--dry-run"].startswith("<") and rows["--target"] == "<int>"
    rows = _option_rows(rendered["neuface merge"])
    assert not rows["--no-label"].startswith("<")
