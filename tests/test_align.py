"""Alignment: DFL's get_transform_mat reproduced bit-for-bit on DFL's own reference matrices."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.dfl.align import (
    LANDMARKS_2D_NEW,
    TEMPLATE_INDICES,
    crop_outline,
    estimate_averaged_yaw,
    get_rect_from_landmarks,
    get_transform_mat,
    landmarks_to_template_mat,
    transform_points,
    umeyama,
    warp_face,
)
from neuface.dfl.facetype import face_type_name


def _fixture_json(dfl_fixtures: Path, rel: str) -> dict:
    return json.loads((dfl_fixtures / rel).read_text())


def _source_landmarks(dfl_fixtures: Path, rel: str) -> np.ndarray:
    return np.array(_fixture_json(dfl_fixtures, rel)["dfl_dict"]["source_landmarks"]["value"], dtype=np.float64)


def _reference(dfl_fixtures: Path) -> dict:
    return json.loads((dfl_fixtures / "json" / "alignment_reference.json").read_text())


def _cases() -> list[dict]:
    from conftest import SHARED_FIXTURES

    path = SHARED_FIXTURES / "dfl" / "json" / "alignment_reference.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["transform_mats"]


CASES = _cases()


def test_reference_has_90_cases():
    assert len(CASES) == 90
    assert {c["face_type"] for c in CASES} == {"half_face", "midfull_face", "full_face", "full_face_no_align",
                                               "whole_face", "head", "head_no_align"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{Path(c['source_landmarks_from']).stem}-"
                         f"{c['face_type']}-{c['output_size']}-{c['scale']}")
def test_get_transform_mat_matches_dfl(dfl_fixtures, case):
    lm = _source_landmarks(dfl_fixtures, case["source_landmarks_from"])
    mat = get_transform_mat(lm, case["output_size"], case["face_type"], case["scale"])
    assert mat.dtype == np.float64 and mat.shape == (2, 3)
    np.testing.assert_allclose(mat, np.array(case["mat"]), rtol=0, atol=1e-4)
    # Bit-exact in practice (numpy-1 casting imitated); keep the strict check so a regression is noticed.
    assert np.array_equal(mat, np.array(case["mat"]))


def test_landmark_lists_are_accepted(dfl_fixtures):
    case = CASES[0]
    lm = _source_landmarks(dfl_fixtures, case["source_landmarks_from"])
    mat = get_transform_mat(lm.tolist(), case["output_size"], case["face_type"], case["scale"])
    assert np.array_equal(mat, np.array(case["mat"]))


def test_aligned_landmarks_and_matrix_of_dfl_files(dfl_fixtures):
    """The extractor's stored matrix and aligned landmarks follow from the source landmarks."""
    for name, ft, size in (("t1_0", "whole_face", 512), ("t1_3", "whole_face", 512),
                           ("Tom_Hanks_54745_0", "full_face", 256)):
        d = _fixture_json(dfl_fixtures, f"json/{name}.jpg.json")["dfl_dict"]
        src = np.array(d["source_landmarks"]["value"], dtype=np.float64)
        mat = get_transform_mat(src, size, ft)
        assert np.array_equal(mat, np.array(d["image_to_face_mat"]["value"]))
        aligned = transform_points(src, mat)
        assert aligned.dtype == np.float64
        np.testing.assert_array_equal(aligned, np.array(d["landmarks"]["value"]))


def test_warp_matches_dfl_crop(dfl_fixtures):
    """Bilinear warp (DFL's positional-argument quirk) reproduces the extractor's JPEG within JPEG noise."""
    frame = cv2.imread(str(dfl_fixtures / "frames" / "t1.jpg"))
    h, w = frame.shape[:2]
    frame = frame[: h - h % 2, : w - w % 2]
    d = _fixture_json(dfl_fixtures, "json/t1_0.jpg.json")["dfl_dict"]
    mat = np.array(d["image_to_face_mat"]["value"])
    ours = warp_face(frame, mat, 512)
    dfl = cv2.imread(str(dfl_fixtures / "aligned" / "t1_0.jpg"))
    diff = np.abs(ours.astype(np.int16) - dfl.astype(np.int16))
    assert diff.mean() < 1.5
    lanczos = cv2.warpAffine(frame, mat, (512, 512), flags=cv2.INTER_LANCZOS4)
    assert np.abs(ours.astype(np.int16) - lanczos.astype(np.int16)).max() > 0  # the quirk matters


@pytest.mark.parametrize("spec,name", [("wf", "whole_face"), ("F", "full_face"), ("mf", "midfull_face"),
                                       ("h", "half_face"), ("head", "head"), ("whole_face", "whole_face"),
                                       (4, "whole_face"), (10, "head"), ("Full_Face_No_Align", "full_face_no_align")])
def test_face_type_names(spec, name):
    assert face_type_name(spec) == name


@pytest.mark.parametrize("bad", ["x", "", 5, "mark"])
def test_face_type_unknown(bad):
    with pytest.raises(ValueError):
        face_type_name(bad)


def test_mark_only_has_no_transform(dfl_fixtures):
    lm = _source_landmarks(dfl_fixtures, "json/t1_0.jpg.json")
    with pytest.raises(ValueError, match="no alignment"):
        get_transform_mat(lm, 256, "mark_only")


def test_template_landmarks_map_to_template():
    """Landmarks lying exactly on the template give the template itself (scale 1, no rotation)."""
    lm = np.zeros((68, 2))
    lm[TEMPLATE_INDICES] = LANDMARKS_2D_NEW.astype(np.float64) * 200 + 50
    mat = landmarks_to_template_mat(lm)
    np.testing.assert_allclose(mat, [[1 / 200, 0, -0.25], [0, 1 / 200, -0.25]], atol=1e-6)
    # half_face: the crop is exactly the template square, so corners land on 0 and S.
    crop = get_transform_mat(lm, 100, "half_face")
    np.testing.assert_allclose(transform_points(np.float64([[50, 50], [250, 250]]), crop), [[0, 0], [100, 100]],
                               atol=1e-3)


@pytest.mark.parametrize("ft,side", [("half_face", 1.0), ("midfull_face", 1.19092), ("full_face", 1.59662),
                                     ("whole_face", 2.13137), ("head", 2.97990)])
def test_crop_side_in_template_units(ft, side):
    lm = np.zeros((68, 2))
    lm[TEMPLATE_INDICES] = LANDMARKS_2D_NEW.astype(np.float64) * 300 + 100
    mat = get_transform_mat(lm, 256, ft)
    pixels_per_unit = math.hypot(mat[0, 0], mat[0, 1]) * 300
    assert pixels_per_unit == pytest.approx(256 / side, rel=1e-4)


def test_umeyama_recovers_similarity():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(33, 2))
    angle, scale, shift = 0.3, 2.5, np.array([4.0, -7.0])
    R = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = (scale * src @ R.T + shift).astype(np.float32)
    T = umeyama(src, dst)
    np.testing.assert_allclose(T[:2, :2], scale * R, atol=1e-5)
    np.testing.assert_allclose(T[:2, 2], shift, atol=1e-5)


def test_transform_points_invert_roundtrip():
    mat = np.array([[1.5, 0.2, 10.0], [-0.2, 1.5, -3.0]])
    pts = np.float32([[0, 0], [10, 20], [100, 5]])
    back = transform_points(transform_points(pts, mat), mat, invert=True)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, pts, atol=1e-3)


def test_estimate_averaged_yaw_reference(dfl_fixtures):
    for pose in _reference(dfl_fixtures)["pose"]:
        src = _source_landmarks(dfl_fixtures, pose["aligned_landmarks_from"])
        yaw = estimate_averaged_yaw(transform_points(src, landmarks_to_template_mat(src)))
        assert yaw == pytest.approx(pose["averaged_yaw_of_source_landmarks_in_template_space"], abs=1e-9)


def test_rect_and_outline(dfl_fixtures):
    lm = _source_landmarks(dfl_fixtures, "json/t1_0.jpg.json")
    l, t, r, b = get_rect_from_landmarks(lm)
    assert l < lm[:, 0].min() and r > lm[:, 0].max() and t < lm[:, 1].min()
    mat = get_transform_mat(lm, 512, "whole_face")
    outline = crop_outline(mat, 512)
    assert outline.shape == (4, 2)
    # the whole_face crop contains every landmark
    assert cv2.pointPolygonTest(outline.reshape(-1, 1, 2), (float(lm[8, 0]), float(lm[8, 1])), False) > 0
