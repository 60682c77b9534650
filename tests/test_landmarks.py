"""Landmark utilities against DFL's own outputs (hull mask PNGs, pose values)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.dfl.landmarks import (
    MIRROR_IDXS,
    draw_landmarks,
    estimate_pitch_yaw_roll,
    expand_eyebrows,
    get_image_eye_mask,
    get_image_eye_mouth_mask,
    get_image_hull_mask,
    get_image_mouth_mask,
    mirror_landmarks,
    rotation_matrix_to_euler_angles,
)


def _aligned_landmarks(dfl_fixtures: Path, stem: str) -> np.ndarray:
    d = json.loads((dfl_fixtures / "json" / f"{stem}.jpg.json").read_text())
    return np.array(d["dfl_dict"]["landmarks"]["value"], dtype=np.float64)


@pytest.mark.parametrize("stem", ["t1_0", "t1_2"])
def test_hull_mask_matches_dfl_pixel_for_pixel(dfl_fixtures, stem):
    """The fixtures' xseg_mask is DFL's get_image_hull_mask at 256 px, binarised: ours equals it."""
    lm = _aligned_landmarks(dfl_fixtures, stem) * (256 / 512)
    ours = get_image_hull_mask((256, 256), lm)
    assert ours.dtype == np.float32 and ours.shape == (256, 256, 1)
    assert set(np.unique(ours)) <= {0.0, 1.0}
    dfl = cv2.imread(str(dfl_fixtures / "json" / f"{stem}.xseg_mask.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(ours[..., 0] > 0.5, dfl > 127)


def test_eyebrow_expansion_grows_mask(dfl_fixtures):
    lm = _aligned_landmarks(dfl_fixtures, "t1_0")
    small = get_image_hull_mask((512, 512), lm, 0.0).sum()
    default = get_image_hull_mask((512, 512), lm).sum()
    big = get_image_hull_mask((512, 512), lm, 2.0).sum()
    assert small < default < big
    assert get_image_hull_mask((512, 512), lm, None).sum() == default
    lifted = expand_eyebrows(lm, 1.0)
    assert lifted.dtype == np.int64
    assert (lifted[17:27, 1] <= lm[17:27, 1].astype(np.int64)).all()  # eyebrows move up (smaller y)


def test_eye_and_mouth_masks(dfl_fixtures):
    lm = _aligned_landmarks(dfl_fixtures, "t1_1")
    eyes = get_image_eye_mask((512, 512, 3), lm)
    mouth = get_image_mouth_mask((512, 512, 3), lm)
    both = get_image_eye_mouth_mask((512, 512, 3), lm)
    for m in (eyes, mouth, both):
        assert m.shape == (512, 512, 1) and m.dtype == np.float32
        assert 0.0 <= m.min() and m.max() <= 1.0 + 1e-6
    eye_c = lm[36:42].mean(0).astype(int)
    mouth_c = lm[60:68].mean(0).astype(int)
    assert eyes[eye_c[1], eye_c[0], 0] > 0.9 and eyes[mouth_c[1], mouth_c[0], 0] < 0.01
    assert mouth[mouth_c[1], mouth_c[0], 0] > 0.5 and mouth[eye_c[1], eye_c[0], 0] < 0.01
    # blurred: values strictly between 0 and 1 exist at the edge
    assert ((eyes > 0.05) & (eyes < 0.95)).any()
    np.testing.assert_allclose(both, np.clip(eyes + mouth, 0, 1))


def test_pose_matches_dfl(dfl_fixtures):
    ref = json.loads((dfl_fixtures / "json" / "alignment_reference.json").read_text())["pose"]
    assert len(ref) == 5
    for case in ref:
        lm = _aligned_landmarks(dfl_fixtures, Path(case["aligned_landmarks_from"]).name[:-len(".jpg.json")])
        pitch, yaw, roll = estimate_pitch_yaw_roll(lm, case["size"])
        assert pitch == pytest.approx(case["pitch"], abs=2e-3)
        assert yaw == pytest.approx(case["yaw"], abs=2e-3)
        assert roll == pytest.approx(case["roll"], abs=2e-3)


def test_pose_sign_follows_head_turn(dfl_fixtures):
    """Squeezing one side of the face (a turned head) changes the yaw sign consistently."""
    lm = _aligned_landmarks(dfl_fixtures, "t1_1")
    _, yaw0, _ = estimate_pitch_yaw_roll(lm, 512)
    cx = lm[27:31, 0].mean()
    turned = lm.copy()
    right = turned[:, 0] > cx
    turned[right, 0] = cx + (turned[right, 0] - cx) * 0.6
    _, yaw1, _ = estimate_pitch_yaw_roll(turned, 512)
    mirrored = mirror_landmarks(turned, 512)
    _, yaw2, _ = estimate_pitch_yaw_roll(mirrored, 512)
    assert abs(yaw1 - yaw0) > 0.1
    assert np.sign(yaw1 - yaw0) == -np.sign(yaw2 - yaw0)


def test_mirror_is_involution(dfl_fixtures):
    lm = _aligned_landmarks(dfl_fixtures, "t1_3")
    assert sorted(MIRROR_IDXS.tolist()) == list(range(68))
    np.testing.assert_allclose(mirror_landmarks(mirror_landmarks(lm, 512), 512), lm)
    m = mirror_landmarks(lm, 512)
    assert m[36, 0] == pytest.approx(511 - lm[45, 0])  # right eye corner <-> left eye corner


def test_euler_angles_of_known_rotations():
    assert np.allclose(rotation_matrix_to_euler_angles(np.eye(3)), 0)
    a = 0.4
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    assert rotation_matrix_to_euler_angles(rz) == pytest.approx([0, 0, a])


def test_bad_shape_rejected():
    with pytest.raises(ValueError, match="68"):
        get_image_hull_mask((64, 64), np.zeros((5, 2)))


def test_draw_landmarks_changes_pixels(dfl_fixtures):
    img = np.zeros((512, 512, 3), np.uint8)
    draw_landmarks(img, _aligned_landmarks(dfl_fixtures, "t1_0"))
    assert img[..., 1].sum() > 0 and img[..., 0].sum() == 0
