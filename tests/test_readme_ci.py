"""README's first two commands are what CI runs: `.ci/run` must install and test exactly as a user is told."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The lines of the README's first ```bash block."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README.md must open with a ```bash block"
    assert text.index("```bash") < 200, "the install and test commands must come first in README.md"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_install_then_test_command() -> None:
    install, test = readme_commands()
    assert "python3 -m venv" in install and "pip install" in install and "torch==" in install
    assert "'.[cpu,test]'" in install  # the CPU onnxruntime extra, never both runtimes
    assert "pytest" in test and "ruff check" in test


def test_ci_runs_the_readme_commands_verbatim() -> None:
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    install, test = readme_commands()
    assert install in ci and test in ci
    assert ci.index(install) < ci.index(test)
    assert any(line.startswith("rm -rf .venv") for line in ci[:ci.index(install)])  # a fresh venv every time
    assert (REPO / ".ci" / "run").stat().st_mode & 0o111  # executable
