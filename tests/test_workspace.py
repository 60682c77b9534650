"""The workspace module: DFL's layout, video discovery, what counts as a workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuface.workspace import Side, Workspace


def test_dfl_layout(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    assert ws.frames_dir(Side.src) == tmp_path / "data_src"
    assert ws.frames_dir(Side.dst) == tmp_path / "data_dst"
    assert ws.aligned_dir(Side.src) == tmp_path / "data_src" / "aligned"
    assert ws.aligned_debug_dir(Side.dst) == tmp_path / "data_dst" / "aligned_debug"
    assert ws.aligned_trash_dir(Side.src) == tmp_path / "data_src" / "aligned_trash"
    assert ws.pak_file(Side.src) == tmp_path / "data_src" / "aligned" / "faceset.pak"
    assert ws.model_dir == tmp_path / "model"
    assert ws.config_file == tmp_path / "neuface.toml"


def test_side_is_an_enum() -> None:
    assert Side("src") is Side.src and Side("dst") is Side.dst
    with pytest.raises(ValueError):
        Side("source")
    assert Workspace.at("w").frames_dir("dst") == Path("w/data_dst")  # plain strings are validated too
    with pytest.raises(ValueError):
        Workspace.at("w").frames_dir("other")


def test_default_root(monkeypatch) -> None:
    monkeypatch.delenv("NEUFACE_WORKSPACE", raising=False)
    assert Workspace.at().root == Path("workspace")


def test_video_candidates(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path)
    for name in ("data_src.mp4", "data_src.MOV", "data_src.txt", "data_src_old.mp4", "data_dst.avi"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "data_src.mkv").mkdir()  # a folder is not a video
    assert [p.name for p in ws.video_candidates(Side.src)] == ["data_src.MOV", "data_src.mp4"]
    assert [p.name for p in ws.video_candidates(Side.dst)] == ["data_dst.avi"]
    assert Workspace.at(tmp_path / "missing").video_candidates(Side.src) == []


def test_ensure_layout_and_frame_files(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    ws.ensure_layout()
    assert all(d.is_dir() for d in ws.layout_dirs())
    frames = ws.frames_dir(Side.src)
    for name in ("00002.png", "00001.png", "00003.JPG", "notes.txt"):
        (frames / name).write_bytes(b"x")
    assert [p.name for p in ws.frame_files(Side.src)] == ["00001.png", "00002.png", "00003.JPG"]
    assert ws.frame_files(Side.dst) == []
    ws.ensure_layout()  # idempotent


@pytest.mark.parametrize(("entries", "expected"), [
    ((), True),
    (("data_src/",), True),
    (("model/",), True),
    (("neuface.toml",), True),
    (("data_dst.mp4",), True),
    (("holiday.jpg", "notes/"), False),
    (("data_src.txt",), False),
])
def test_looks_like_workspace(tmp_path: Path, entries: tuple[str, ...], expected: bool) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    for name in entries:
        (root / name).mkdir() if name.endswith("/") else (root / name).write_bytes(b"x")
    assert Workspace.at(root).looks_like_workspace() is expected


def test_missing_folder_is_not_a_workspace(tmp_path: Path) -> None:
    assert not Workspace.at(tmp_path / "missing").looks_like_workspace()
