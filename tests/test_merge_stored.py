"""`neuface merge` with the workspace's stored alignments: used only when every frame was extracted, and the
user's curation counts (a frame whose face was deleted passes through unchanged)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.cli import main
from neuface.extract.video import VideoSource
from neuface.merge.faces import StoredFaces, stored_alignments_reason
from neuface.workspace import Side, Workspace
from test_merge import CLIP_FRAMES, _trim, identity_dfm


@pytest.fixture(scope="module")
def workspace(real_media: Path, tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("ws")
    _trim(real_media / "talking_head_tpsmm.mp4", root / "data_dst.mp4", CLIP_FRAMES)
    assert main(["--workspace", str(root), "extract", "dst"]) == 0
    assert main(["--workspace", str(root), "detect", "dst", "--backend", "dlib"]) == 0
    return Workspace.at(root)


def _pngs(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]


def test_stored_alignments_match_detection_and_honour_curation(tmp_path, workspace: Workspace) -> None:
    ws = workspace
    dfm = identity_dfm(tmp_path / "id.dfm", 96)
    # --no-smooth: the curated frame 3 is a gap in the stored faces' track only, so smoothed landmarks
    # (rightly) differ after it; the comparison is of the faces' sources
    common = ["--dfm", str(dfm), "--no-label", "--mask-mode", "dst", "--blur", "16", "--no-smooth"]
    with VideoSource(ws.root / "data_dst.mp4") as src:
        inputs = [d.to_bgr() for d in src.frames()]
    assert stored_alignments_reason(ws, CLIP_FRAMES, inputs[0]) is None
    assert stored_alignments_reason(ws, CLIP_FRAMES + 1, inputs[0]) is not None  # not every frame extracted
    assert stored_alignments_reason(ws, CLIP_FRAMES, inputs[0][:, ::-1]) is not None  # another video

    detected = tmp_path / "detected"
    assert main(["--workspace", str(ws.root), "merge", "--faces", "detect", "--backend", "dlib",  # as stored
                 "--frames-dir", str(detected), *common]) == 0
    aligned = ws.aligned_dir(Side.dst)
    removed = sorted(aligned.glob("00003_*.jpg"))
    assert removed
    backup = tmp_path / "removed"
    backup.mkdir()
    for p in removed:
        shutil.move(str(p), backup / p.name)
    try:
        stored = tmp_path / "stored"
        assert main(["--workspace", str(ws.root), "merge", "--faces", "stored", "--frames-dir", str(stored),
                     *common]) == 0
    finally:
        for p in backup.iterdir():
            shutil.move(str(p), aligned / p.name)
    a, b = _pngs(detected), _pngs(stored)
    assert len(a) == len(b) == CLIP_FRAMES
    for i, (x, y) in enumerate(zip(a, b, strict=True), 1):
        if i == 3:
            assert np.array_equal(y, inputs[2]) and not np.array_equal(x, inputs[2])
        else:
            assert np.array_equal(x, y), i  # same dlib landmarks, stored or detected: the same merge


def test_stored_faces_carry_masks(workspace: Workspace) -> None:
    stored = StoredFaces.load(workspace.aligned_dir(Side.dst))
    assert stored.n_faces >= CLIP_FRAMES - 1
    face = stored.by_index[1][0]
    assert face.landmarks.shape == (68, 2) and face.stored_face_type == "whole_face"
    assert face.stored_mask is None  # no `neuface mask` run here: `--mask-mode stored` falls back to the hull
