"""`neuface pack` / `neuface unpack`: verified, byte-identical, nothing lost on bad input."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from neuface.atomic import owner_tag
from neuface.cli import main
from neuface.errors import UsageError
from neuface.faceset.pak import PakReader
from neuface.pack import pack_faceset, unpack_faceset


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def workspace(tmp_path: Path, dfl_fixtures: Path) -> Path:
    aligned = tmp_path / "ws" / "data_dst" / "aligned"
    (aligned / "friends").mkdir(parents=True)
    for p in sorted((dfl_fixtures / "aligned").iterdir()):
        dst = aligned / ("friends" if p.name.startswith("t1_") and p.name != "t1_3.jpg" else "") / p.name
        shutil.copyfile(p, dst)
    return tmp_path / "ws"


def test_cli_pack_unpack_round_trip(workspace: Path) -> None:
    aligned = workspace / "data_dst" / "aligned"
    before = _tree(aligned)
    assert main(["-q", "-w", str(workspace), "pack", "dst"]) == 0
    assert _tree(aligned).keys() == {"faceset.pak"}
    with PakReader(aligned / "faceset.pak") as reader:
        assert [c["person_name"] for c in reader.configs()] == [None, None, "friends", "friends", "friends"]
    assert main(["-q", "-w", str(workspace), "unpack", "dst"]) == 0
    assert _tree(aligned) == before


def test_cli_keep_flags(workspace: Path) -> None:
    aligned = workspace / "data_dst" / "aligned"
    before = _tree(aligned)
    assert main(["-q", "-w", str(workspace), "pack", "dst", "--keep"]) == 0
    assert set(_tree(aligned)) == set(before) | {"faceset.pak"}
    shutil.rmtree(aligned / "friends")
    for p in aligned.glob("*.jpg"):
        p.unlink()
    assert main(["-q", "-w", str(workspace), "unpack", "dst", "--keep"]) == 0
    after = _tree(aligned)
    assert after.pop("faceset.pak") and after == before


def test_cli_errors_are_one_line_and_nonzero(workspace: Path, capsys) -> None:
    assert main(["-q", "-w", str(workspace), "unpack", "dst"]) != 0
    assert "no faceset.pak" in capsys.readouterr().err
    assert main(["-q", "-w", str(workspace / "nowhere"), "pack", "src"]) != 0
    assert "not found" in capsys.readouterr().err


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "aligned").mkdir()
    with pytest.raises(UsageError, match="no aligned faces"):
        pack_faceset(tmp_path / "aligned")


def test_invalid_images_are_listed_and_never_deleted(workspace: Path) -> None:
    aligned = workspace / "data_dst" / "aligned"
    (aligned / "notes.jpg").write_bytes(b"not a jpeg")
    (aligned / "friends" / "scan.tif").write_bytes(b"II*\x00")
    before = _tree(aligned)
    with pytest.raises(UsageError) as info:
        pack_faceset(aligned)
    assert "notes.jpg" in str(info.value) and "scan.tif" in str(info.value) and "--skip-invalid" in str(info.value)
    assert _tree(aligned) == before  # nothing written, nothing removed
    res = pack_faceset(aligned, skip_invalid=True)
    assert res.packed == 5 and len(res.skipped) == 2
    assert set(_tree(aligned)) == {"faceset.pak", "notes.jpg", "friends/scan.tif"}


def test_pack_refuses_to_overwrite_a_pak(workspace: Path) -> None:
    aligned = workspace / "data_dst" / "aligned"
    pack_faceset(aligned, keep=True)
    pak = (aligned / "faceset.pak").read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        pack_faceset(aligned)
    assert (aligned / "faceset.pak").read_bytes() == pak


def test_unpack_never_overwrites_a_different_file(workspace: Path) -> None:
    aligned = workspace / "data_dst" / "aligned"
    pack_faceset(aligned)
    (aligned / "t1_3.jpg").write_bytes(b"user edit")
    with pytest.raises(UsageError, match="would be overwritten"):
        unpack_faceset(aligned)
    assert (aligned / "faceset.pak").exists() and (aligned / "t1_3.jpg").read_bytes() == b"user edit"
    assert not (aligned / "friends").exists()


def test_unpack_of_a_dfl_pak_restores_dfls_files(dfl_fixtures: Path, copy_fixture) -> None:
    folder = copy_fixture(dfl_fixtures / "pak_flat", "aligned")
    res = unpack_faceset(folder)
    assert res.written == 5 and res.pak_removed
    for p in (dfl_fixtures / "aligned").iterdir():
        assert (folder / p.name).read_bytes() == p.read_bytes()


def _dead_owner() -> str:
    """`<pid>@<host>` of a process that has exited, as a killed run's temp names carry it."""
    import subprocess
    import sys

    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                             text=True).stdout)
    return f"{pid}@{owner_tag().split('@')[1]}"


def test_temp_files_of_a_killed_run_are_removed(workspace: Path) -> None:
    aligned = workspace / "data_dst" / "aligned"
    dead, live = _dead_owner(), owner_tag()
    stale_pak = aligned / f".faceset.pak.{dead}.k2j3.pak.tmp"  # what atomic_path names a pak being written
    busy_pak = aligned / f".faceset.pak.{live}.x9.pak.tmp"  # a running process's: left alone
    stale_pak.write_bytes(b"half a pak" * 1000)
    busy_pak.write_bytes(b"in progress")
    before = _tree(aligned)
    pack_faceset(aligned)
    assert not stale_pak.exists() and busy_pak.read_bytes() == b"in progress"
    busy_pak.unlink()

    stale_face = aligned / "friends" / f".t1_1.jpg.{dead}.unpack.tmp"
    stale_face.parent.mkdir()
    stale_face.write_bytes(b"half a face")
    unpack_faceset(aligned)
    assert not stale_face.exists()
    del before[busy_pak.name], before[stale_pak.name]
    assert _tree(aligned) == before


def test_pack_removes_loose_files_and_empty_person_folders_only(workspace: Path) -> None:
    aligned = workspace / "data_dst" / "aligned"
    (aligned / "friends" / "notes.txt").write_text("mine")
    res = pack_faceset(aligned)
    assert res.removed == res.packed == 5
    assert sorted(str(p.relative_to(aligned)) for p in aligned.rglob("*")) == [
        "faceset.pak", "friends", "friends/notes.txt"]
