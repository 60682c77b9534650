"""`neuface sort` output: trash never loses a face, crash-safe renames (killed mid-way), dry run, sheet, errors."""

from __future__ import annotations

import collections
import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.sort.cpbd import marziliano_widths, sobel_edges
from neuface.sort.rename import JOURNAL_NAME, TMP_PREFIX
from test_sort import NON_DFL, _face_template, run_sort, sha, workspace_with  # noqa: F401 (the fixture)

REPO = Path(__file__).resolve().parents[1]


def all_faces(ws: Path) -> collections.Counter:
    """Content hashes of every file in aligned/ (hidden in-flight names included) and aligned_trash/."""
    found: collections.Counter = collections.Counter()
    for d in (ws / "data_src" / "aligned", ws / "data_src" / "aligned_trash"):
        if d.exists():
            found.update(sha(p) for p in d.iterdir() if p.name != JOURNAL_NAME)
    return found


def test_trash_keeps_old_rejects_and_suffixes_clashes(tmp_path, face_template):
    ws = workspace_with(tmp_path, face_template["mixed"])
    trash = ws / "data_src" / "aligned_trash"
    trash.mkdir()
    (trash / NON_DFL).write_bytes(b"an older reject")
    before = all_faces(ws)
    assert run_sort(ws, "--by", "blur") == 0
    assert sorted(p.name for p in trash.iterdir()) == [NON_DFL, "99999_1.png"]
    assert (trash / NON_DFL).read_bytes() == b"an older reject"
    assert all_faces(ws) == before


def test_dry_run_prints_order_and_changes_nothing(tmp_path, face_template, capsys):
    ws = workspace_with(tmp_path, face_template["mixed"])
    aligned = ws / "data_src" / "aligned"
    before = {p.name: sha(p) for p in aligned.iterdir()}
    assert run_sort(ws, "--by", "origname", "--dry-run") == 0
    assert {p.name: sha(p) for p in aligned.iterdir()} == before
    assert not (ws / "data_src" / "aligned_trash").exists()
    lines = [ln.split("\t") for ln in capsys.readouterr().out.splitlines() if not ln.startswith("#")]
    assert [ln[0] for ln in lines] == [f"{i:05d}.jpg" for i in range(len(before) - 1)] + ["trash"]
    assert lines[-1][1] == NON_DFL
    sources = [ln[2] for ln in lines[:-1]]
    assert sources == sorted(sources)


@pytest.mark.parametrize("suffix", [".png", ".html"])
def test_sheet_pages(tmp_path, face_template, suffix):
    ws = workspace_with(tmp_path, face_template["mixed"])
    sheet = tmp_path / f"order{suffix}"
    assert run_sort(ws, "--by", "brightness", "--sheet", str(sheet), "--dry-run") == 0
    assert sheet.is_file()
    if suffix == ".png":
        page = cv2.imread(str(sheet))
        assert page is not None and page.shape[0] > 128 and page.shape[1] > 128 * 10
    else:
        text = sheet.read_text()
        assert text.count("<figure>") == len(list(face_template["mixed"].iterdir()))
        assert "00000.png" in text and "00020.jpg" in text and "data:image/jpeg;base64," in text


def test_refuses_pak_no_tty_and_bad_names(tmp_path, face_template, capsys):
    ws = workspace_with(tmp_path, face_template["mixed"])
    assert main_rc(ws, "--by", "nope") == 2
    assert "0 blur" in capsys.readouterr().err
    assert main_rc(ws) == 2  # no --by and no terminal (pytest's stdin)
    assert "choose a method with --by" in capsys.readouterr().err
    assert main_rc(ws, "--by", "final", "--target", "0") == 2  # refused before any face is measured
    assert "keep at least 1 face" in capsys.readouterr().err
    aligned = ws / "data_src" / "aligned"
    (aligned / "faceset.pak").write_bytes(b"pak")
    before = {p.name: sha(p) for p in aligned.iterdir()}
    assert main_rc(ws, "--by", "blur") == 2  # a pak beside loose images (faceset.ensure_not_mixed)
    err = capsys.readouterr().err
    assert "faceset.pak and loose images" in err and "unpack" in err
    assert {p.name: sha(p) for p in aligned.iterdir()} == before
    for p in list(aligned.iterdir()):
        if p.name != "faceset.pak":
            p.unlink()
    assert main_rc(ws, "--by", "blur") == 2  # a pak alone
    err = capsys.readouterr().err
    assert "not on a packed faceset" in err and "neuface unpack" in err
    assert [p.name for p in aligned.iterdir()] == ["faceset.pak"]
    assert not (ws / "data_src" / "aligned_trash").exists()


def main_rc(ws: Path, *args: str) -> int:
    return run_sort(ws, *args)


def test_menu_on_a_terminal(tmp_path, face_template):
    """No --by with a terminal on stdin (a pty): DFL's numbered menu, and the chosen number sorts."""
    ws = workspace_with(tmp_path / "menu", face_template["mixed"])
    reference = workspace_with(tmp_path / "reference", face_template["mixed"])
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "neuface", "-q", "-w", str(ws), "sort", "src", "--jobs", "1"],
                                stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        os.close(slave)
        os.write(master, b"7\n")  # 7 = brightness
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(master)
    assert proc.returncode == 0, err
    menu = [ln for ln in err.splitlines() if ln.startswith("[")]
    assert len(menu) == 16 and menu[0].split()[:2] == ["[", "0]"] and "identity" in menu[-1]
    assert "Choose a sort method [5]" in err  # DFL's default: hist
    assert run_sort(reference, "--by", "brightness") == 0
    for sub in ("aligned", "aligned_trash"):
        folder = ws / "data_src" / sub
        got = {p.name: sha(p) for p in folder.iterdir()} if folder.exists() else {}
        ref = reference / "data_src" / sub
        assert got == ({p.name: sha(p) for p in ref.iterdir()} if ref.exists() else {})
    assert {p.name: sha(p) for p in (ws / "data_src" / "aligned").iterdir()} != {
        p.name: sha(p) for p in face_template["mixed"].iterdir()}


_SLOW_SORT = """
import os, sys, time
_rename = os.rename
def slow_rename(a, b):
    time.sleep(0.05)
    _rename(a, b)
os.rename = slow_rename
from neuface.cli import main
sys.exit(main(["-q", "-w", sys.argv[1], "sort", "src", "--by", "oneface", "--jobs", "1"]))
"""


def _wait_for(ws: Path, phase: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll until the sort is in `phase` with at least two of that phase's moves done."""
    aligned = ws / "data_src" / "aligned"
    journal_path = aligned / JOURNAL_NAME
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, "sort finished before it could be interrupted"
        try:
            journal = json.loads(journal_path.read_text())
        except (OSError, ValueError):
            time.sleep(0.005)
            continue
        if journal["phase"] == phase:
            trash = ws / "data_src" / "aligned_trash"
            if phase == 0:
                done = len(list(trash.iterdir())) if trash.exists() else 0
            elif phase == 1:
                done = sum(p.name.startswith(TMP_PREFIX) for p in aligned.iterdir())
            else:
                done = sum(not p.name.startswith(".") for p in aligned.iterdir())
            if done >= 2:
                return
        time.sleep(0.005)
    raise AssertionError(f"never saw phase {phase}")


@pytest.mark.parametrize("phase", [0, 1, 2])
def test_killed_sort_loses_nothing_and_finishes_later(tmp_path, face_template, phase):
    ws = workspace_with(tmp_path / "killed", face_template["mixed"])
    reference = workspace_with(tmp_path / "reference", face_template["mixed"])
    before = all_faces(ws)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SORT, str(ws)], env=env)
    try:
        _wait_for(ws, phase, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert all_faces(ws) == before  # every face present exactly once
    assert (ws / "data_src" / "aligned" / JOURNAL_NAME).exists()
    # The next sort finishes the interrupted one first: same result as an uninterrupted sort.
    assert run_sort(reference, "--by", "oneface") == 0
    assert run_sort(ws, "--by", "oneface") == 0  # recovery, then "nothing to do"
    assert not (ws / "data_src" / "aligned" / JOURNAL_NAME).exists()
    for sub in ("aligned", "aligned_trash"):
        got = {p.name: sha(p) for p in (ws / "data_src" / sub).iterdir()}
        assert got == {p.name: sha(p) for p in (reference / "data_src" / sub).iterdir()}


def _reference_widths(edges: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Marziliano widths walked pixel by pixel, as dfl-formats.md §5.3 describes them."""
    h, w = image.shape
    out = np.zeros(image.shape)
    gy, gx = np.gradient(image)
    angle = np.where(gx != 0, np.degrees(np.arctan2(gy, np.where(gx != 0, gx, 1))), 0.0)
    q = 45 * np.round(angle / 45)
    for r in range(1, h - 1):
        for c in range(1, w - 1):
            if not edges[r, c] or q[r, c] not in (0, 180, -180):
                continue
            sign = -1 if q[r, c] != 0 else 1  # intensity must keep falling (180) or rising (0)
            widths = []
            for step in (-1, 1):
                m = 0
                while m <= 100:
                    inner, outer = c + step * (1 + m), c + step * (2 + m)
                    if not 0 <= outer < w or sign * step * (image[r, outer] - image[r, inner]) <= 0:
                        break
                    m += 1
                widths.append(min(m, 100) + 1)
            out[r, c] = sum(widths)
    return out


def test_cpbd_edge_widths_match_the_pixel_walk(dfl_fixtures):
    grey = cv2.imread(str(dfl_fixtures / "aligned" / "t1_0.jpg"), cv2.IMREAD_GRAYSCALE).astype(np.float64)
    crop = grey[120:220, 100:300]
    edges = sobel_edges(crop)
    assert edges.sum() > 100
    np.testing.assert_array_equal(marziliano_widths(edges, crop), _reference_widths(edges, crop))
