"""Probe faces for export verification come through the faceset API: a DFL `faceset.pak` works as well as
loose images, dst before src, and missing or unreadable faces never block an export."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from neuface.export.faces import faceset_faces, workspace_faces
from neuface.faceset import Faceset
from neuface.workspace import Side, Workspace


def test_pak_faceset_is_used(tmp_path: Path, dfl_fixtures: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    dst = ws.aligned_dir(Side.dst)
    dst.mkdir(parents=True)
    shutil.copyfile(dfl_fixtures / "pak_flat" / "faceset.pak", dst / "faceset.pak")
    faces = workspace_faces(ws, limit=3)
    with Faceset.open(dst) as fs:
        expected = [fs[i].load_image() for i in range(min(3, len(fs)))]
    assert len(faces) == len(expected) >= 2
    for got, want in zip(faces, expected, strict=True):
        assert got.dtype == np.uint8 and got.ndim == 3 and np.array_equal(got, want)


def test_dst_first_then_src_and_bad_files_skipped(tmp_path: Path, dfl_fixtures: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    src, dst = ws.aligned_dir(Side.src), ws.aligned_dir(Side.dst)
    src.mkdir(parents=True)
    dst.mkdir(parents=True)
    shutil.copyfile(dfl_fixtures / "aligned" / "t1_0.jpg", dst / "00001_0.jpg")
    (dst / "00002_0.jpg").write_bytes(b"truncated")  # unreadable: skipped, not fatal
    shutil.copyfile(dfl_fixtures / "aligned" / "Tom_Hanks_54745_0.jpg", src / "a.jpg")
    faces = workspace_faces(ws, limit=4)
    assert len(faces) == 2
    assert np.array_equal(faces[0], cv2.imread(str(dst / "00001_0.jpg")))
    assert np.array_equal(faces[1], cv2.imread(str(src / "a.jpg")))
    assert faceset_faces(tmp_path / "missing") == []
