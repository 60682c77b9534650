"""`neuface mask` on real DFL aligned faces: folders and faceset.pak, remove, sheet, errors, framing geometry."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.cli import main
from neuface.dfl.align import get_transform_mat, transform_points
from neuface.dfl.landmarks import get_image_hull_mask
from neuface.faceset import Faceset, dfljpg
from neuface.xseg.apply import apply_masks, locate_model, remove_masks
from neuface.xseg.framing import face_to_xseg, mask_from_xseg, reframe_matrix
from neuface.xseg.model_files import WEIGHTS_NAME, make_data_dat


@pytest.fixture
def workspace(tmp_path: Path, dfl_fixtures: Path, model_fixtures: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "data_src").mkdir(parents=True)
    shutil.copytree(dfl_fixtures / "aligned", ws / "data_src" / "aligned")
    (ws / "model").mkdir()
    shutil.copyfile(model_fixtures / "xseg_256" / "weights" / WEIGHTS_NAME, ws / "model" / WEIGHTS_NAME)
    for p in ws.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return ws


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0.5, b > 0.5
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_reframing_round_trip_puts_mask_back_on_the_face(dfl_fixtures):
    """A full_face file masked by a wf XSeg: the hull drawn in XSeg's framing lands on the file's own hull."""
    path = dfl_fixtures / "aligned" / "Tom_Hanks_54745_0.jpg"
    meta = dfljpg.read_meta(path)
    img = cv2.imread(str(path))
    w = img.shape[1]
    mat = reframe_matrix(meta.face_type, meta.source_landmarks, meta.landmarks, w, "wf")
    assert mat is not None
    x = face_to_xseg(img, mat)
    assert x.shape == (256, 256, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    # Where the file's landmarks are in XSeg's (wf, 256) input: the hull there is a perfect "XSeg output".
    lm_xseg = transform_points(meta.landmarks.astype(np.float32), mat) * (256 / w)
    hull_xseg = get_image_hull_mask((256, 256), lm_xseg)[..., 0]
    back = mask_from_xseg(hull_xseg, mat, w)
    own = get_image_hull_mask((256, 256), meta.landmarks * (256 / w))[..., 0]
    assert set(np.unique(back)) <= {0.0, 1.0}
    assert _iou(back, own) > 0.95
    # Same face type: no re-warp, only resizing.
    assert reframe_matrix("whole_face", meta.source_landmarks, meta.landmarks, w, "wf") is None
    # A full_face crop seen as wf is smaller inside the frame (wf covers more): mask area shrinks.
    assert hull_xseg.mean() < own.mean()


def test_reframing_agrees_with_dfl_frame_path(dfl_fixtures):
    """Via the frame (DFL's apply) and via aligned landmarks (DFL's trainer) give nearly the same matrix."""
    meta = dfljpg.read_meta(dfl_fixtures / "aligned" / "t1_1.jpg")
    via_frame = reframe_matrix(meta.face_type, meta.source_landmarks, meta.landmarks, 512, "f")
    via_aligned = reframe_matrix(meta.face_type, None, meta.landmarks, 512, "f")
    corners = np.float32([(0, 0), (511, 0), (511, 511), (0, 511)])
    d = np.abs(transform_points(corners, via_frame) - transform_points(corners, via_aligned)).max()
    assert d < 2.0
    expect = get_transform_mat(meta.landmarks, 512, "full_face")
    np.testing.assert_allclose(via_aligned, expect)


def test_cli_applies_then_removes_on_folder(workspace, tmp_path):
    aligned = workspace / "data_src" / "aligned"
    before = {p.name: (p.read_bytes(), cv2.imread(str(p))) for p in aligned.glob("*.jpg")}
    sheet = tmp_path / "masks.png"
    assert main(["-w", str(workspace), "--device", "cpu", "mask", "src", "--sheet", str(sheet)]) == 0
    fs = Faceset.open(aligned)
    assert len(fs) == 5
    for rec in fs:
        raw = rec.meta.xseg_mask
        assert raw is not None and raw[:8] == b"\x89PNG\r\n\x1a\n"  # DFL stores a PNG
        m = rec.meta.get_xseg_mask()
        assert m.shape == (256, 256, 1) and set(np.unique(m)) <= {0.0, 1.0} and 0 < m.mean() < 1
        # Image data untouched; only the metadata segment changed.
        assert (cv2.imread(str(rec.path)) == before[rec.name][1]).all()
        assert rec.path.read_bytes() != before[rec.name][0]
        # Other metadata kept (polygons of t1_1/t1_2 survive).
        if rec.name in ("t1_1.jpg", "t1_2.jpg"):
            assert rec.meta.seg_ie_polys is not None
    assert sheet.is_file() and cv2.imread(str(sheet)).shape[1] == 5 * 132 + 4
    assert not list(aligned.glob(".*"))  # no temp files left

    assert main(["-w", str(workspace), "mask", "src", "--remove"]) == 0
    for rec in Faceset.open(aligned):
        assert rec.meta.xseg_mask is None
        assert (cv2.imread(str(rec.path)) == before[rec.name][1]).all()


def test_pak_gets_masks_and_stays_valid(workspace, dfl_fixtures, model_fixtures, tmp_path):
    aligned = tmp_path / "pak"
    aligned.mkdir()
    shutil.copyfile(dfl_fixtures / "pak_flat" / "faceset.pak", aligned / "faceset.pak")
    (aligned / "faceset.pak").chmod(0o644)
    model = tmp_path / "model"
    model.mkdir()
    shutil.copyfile(model_fixtures / "xseg_256" / "weights" / WEIGHTS_NAME, model / WEIGHTS_NAME)
    # XSeg_data.dat says the model works on full faces: that face type is used, not the default wf.
    (model / "XSeg_data.dat").write_bytes(make_data_dat(100, {"face_type": "f", "pretrain": False,
                                                              "batch_size": 4}, [[0.5]]))
    files = locate_model(model, tmp_path / "unused")
    images_before = [r.load_image() for r in Faceset.open(aligned)]
    report = apply_masks(aligned, files, device="cpu", batch_size=2)
    assert report.face_type == "f" and report.masked == 5
    fs = Faceset.open(aligned)
    assert fs.is_pak and len(fs) == 5
    for rec, img in zip(fs, images_before, strict=True):
        assert rec.meta.get_xseg_mask().shape == (256, 256, 1)
        assert (rec.load_image() == img).all()
    fs.close()
    assert remove_masks(aligned).removed == 5
    assert all(r.meta.xseg_mask is None for r in Faceset.open(aligned))


def test_missing_model_error_says_where(workspace, capsys):
    (workspace / "model" / WEIGHTS_NAME).unlink()
    assert main(["-w", str(workspace), "mask", "src"]) == 2
    err = capsys.readouterr().err
    assert "GenericXSeg" in err and str(workspace / "model") in err.replace("\n", "")
    assert "landmark hull" in err.replace("\n", " ")
    assert main(["-w", str(workspace), "mask", "src", "--model-dir", str(workspace / "nope")]) == 2
