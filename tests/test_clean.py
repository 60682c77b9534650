"""`neuface clean`: backup by move, --no-backup, refusals, prompts only on a TTY, symlinks never followed."""

from __future__ import annotations

import io
import re
import sys
from datetime import datetime
from pathlib import Path

import pytest

from neuface.clean import clean_workspace
from neuface.cli import main
from neuface.errors import UsageError
from neuface.workspace import Side, Workspace


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Data outside the workspace that symlinks inside it point to."""
    d = tmp_path / "outside"
    (d / "keep").mkdir(parents=True)
    (d / "keep" / "precious.txt").write_text("do not touch")
    (d / "video.mp4").write_bytes(b"outside video")
    return d


@pytest.fixture
def ws(tmp_path: Path, outside: Path) -> Workspace:
    ws = Workspace.at(tmp_path / "workspace")
    ws.ensure_layout()
    (ws.root / "data_src.mp4").write_bytes(b"video")
    (ws.frames_dir(Side.src) / "00001.png").write_bytes(b"frame")
    (ws.aligned_dir(Side.dst) / "00001_0.jpg").write_bytes(b"face")
    (ws.model_dir / "new_SAEHD_data.dat").write_bytes(b"model")
    ws.config_file.write_text(CONFIG)
    (ws.root / "linked_dir").symlink_to(outside / "keep")
    (ws.frames_dir(Side.dst) / "linked_video.mp4").symlink_to(outside / "video.mp4")
    return ws


def tree(root: Path) -> dict[str, str]:
    """Relative path -> content (files), '->target' (links) or '/' (folders), without following links."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "->" + str(p.readlink())
        elif p.is_dir():
            out[rel] = "/"
        else:
            out[rel] = p.read_text(errors="replace")
    return out


CONFIG = 'device = "cpu"\n'


def assert_empty_layout(ws: Workspace, config: bool = True) -> None:
    """The empty layout, plus the user's neuface.toml unless `config` is False."""
    expected = ["data_dst", "data_src", "model"] + (["neuface.toml"] if config else [])
    assert sorted(p.name for p in ws.root.iterdir()) == expected
    for d in ws.layout_dirs():
        assert d.is_dir()
    assert [p for p in ws.root.rglob("*") if not p.is_dir()] == ([ws.config_file] if config else [])
    if config:
        assert ws.config_file.read_text() == CONFIG


def assert_outside_intact(outside: Path) -> None:
    assert (outside / "keep" / "precious.txt").read_text() == "do not touch"
    assert (outside / "video.mp4").read_bytes() == b"outside video"


def test_backup_moves_everything_beside_workspace(ws: Workspace, outside: Path) -> None:
    before = tree(ws.root)
    result = clean_workspace(ws, now=datetime(2024, 5, 6, 7, 8, 9))
    assert result.backup == ws.root.parent / "workspace_backup_20240506_070809"
    assert tree(result.backup) == before  # contents moved intact (the config too), links still links
    assert (result.backup / "linked_dir").is_symlink()
    assert result.entries == 6 and result.kept_config
    assert_empty_layout(ws)  # ... and the settings survive in the fresh workspace
    ws.config_file.write_text("edited")
    assert (result.backup / "neuface.toml").read_text() == CONFIG  # a copy, not a link
    assert_outside_intact(outside)


def test_backup_names_never_collide(ws: Workspace) -> None:
    now = datetime(2024, 5, 6, 7, 8, 9)
    first = clean_workspace(ws, now=now).backup
    (ws.model_dir / "x.dat").write_bytes(b"x")
    second = clean_workspace(ws, now=now).backup
    assert first is not None and second is not None and first != second
    assert second.name == "workspace_backup_20240506_070809_1"
    assert (second / "model" / "x.dat").read_bytes() == b"x"


def test_no_backup_deletes_but_never_follows_symlinks(ws: Workspace, outside: Path, tmp_path: Path) -> None:
    result = clean_workspace(ws, backup=False)
    assert result.backup is None and result.entries == 5  # neuface.toml is kept
    assert_empty_layout(ws)
    assert_outside_intact(outside)
    assert not any(p.name.startswith("workspace_backup_") for p in tmp_path.iterdir())


@pytest.mark.parametrize("backup", [True, False])
def test_no_keep_config_empties_everything(ws: Workspace, backup: bool) -> None:
    result = clean_workspace(ws, backup=backup, keep_config=False)
    assert not result.kept_config and result.entries == 6
    assert_empty_layout(ws, config=False)
    if backup:
        assert result.backup is not None and (result.backup / "neuface.toml").read_text() == CONFIG


def test_workspace_root_missing_creates_layout(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "new")
    result = clean_workspace(ws)
    assert result.entries == 0 and result.backup is None
    assert_empty_layout(ws, config=False)


@pytest.mark.parametrize("entries", [("notes.txt",), (".git/", "model/", "train.py")])
def test_refuses_folders_that_are_not_workspaces(tmp_path: Path, entries: tuple[str, ...]) -> None:
    # A plain folder, and a source checkout that happens to have a model/ folder.
    root = tmp_path / "project"
    root.mkdir()
    for name in entries:
        (root / name).mkdir() if name.endswith("/") else (root / name).write_text("mine")
    before = tree(root)
    with pytest.raises(UsageError, match="refusing"):
        clean_workspace(Workspace.at(root))
    assert tree(root) == before


def test_refuses_home_folder(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    (home / "model").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(UsageError, match="home"):
        clean_workspace(Workspace.at(home))
    assert (home / "model").is_dir()


def test_cli_without_tty_or_yes_refuses(ws: Workspace, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a terminal: must not read it
    before = tree(ws.root)
    assert main(["--workspace", str(ws.root), "clean"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert tree(ws.root) == before


def test_cli_yes_backs_up(ws: Workspace, capsys) -> None:
    assert main(["--workspace", str(ws.root), "clean", "--yes"]) == 0
    backups = [p for p in ws.root.parent.iterdir() if re.fullmatch(r"workspace_backup_\d{8}_\d{6}", p.name)]
    assert len(backups) == 1 and (backups[0] / "data_src.mp4").read_bytes() == b"video"
    assert_empty_layout(ws)


def test_cli_yes_no_backup(ws: Workspace, outside: Path) -> None:
    assert main(["--workspace", str(ws.root), "clean", "--yes", "--no-backup"]) == 0
    assert_empty_layout(ws)
    assert main(["--workspace", str(ws.root), "clean", "--yes", "--no-backup", "--no-keep-config"]) == 0
    assert_empty_layout(ws, config=False)
    assert_outside_intact(outside)


@pytest.mark.parametrize(("answer", "code"), [("n\n", 1), ("y\n", 0)])
def test_cli_asks_on_a_tty(ws: Workspace, monkeypatch, answer: str, code: int) -> None:
    import neuface.console

    monkeypatch.setattr(neuface.console, "stdin_is_tty", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO(answer))
    before = tree(ws.root)
    assert main(["--workspace", str(ws.root), "clean"]) == code
    if code:
        assert tree(ws.root) == before
    else:
        assert_empty_layout(ws)


def test_cli_refuses_non_workspace_before_asking(tmp_path: Path, capsys) -> None:
    root = tmp_path / "documents"
    root.mkdir()
    (root / "thesis.tex").write_text("...")
    assert main(["--workspace", str(root), "clean", "--yes"]) == 2
    assert "does not look like" in capsys.readouterr().err
    assert (root / "thesis.tex").read_text() == "..."
