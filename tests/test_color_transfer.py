"""Colour transfers on real face crops: each mode must pull the image's colour statistics to the reference's."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.imaging.color_transfer import MERGE_MODES, TRAIN_MODES, color_transfer, lct, mkl, rct, sot


def _load(path: Path, size: int = 96) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


@pytest.fixture(scope="module")
def faces(dfl_fixtures: Path) -> tuple[np.ndarray, np.ndarray]:
    """Two different real faces in the same framing; the reference is tinted so the colour gap is large."""
    a = _load(dfl_fixtures / "aligned" / "t1_0.jpg")
    b = _load(dfl_fixtures / "aligned" / "t1_2.jpg")
    b = np.clip(b * np.array([1.2, 1.0, 0.8], np.float32), 0, 1)
    return a, b


def _mean_gap(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(x.reshape(-1, 3).mean(0) - y.reshape(-1, 3).mean(0)).max())


def _cov_gap(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.abs(np.cov(x.reshape(-1, 3), rowvar=False) - np.cov(y.reshape(-1, 3), rowvar=False)).max())


def test_rct_matches_lab_mean_and_std(faces):
    img, ref = faces
    out = rct(img, ref)
    lab_out = cv2.cvtColor(out, cv2.COLOR_BGR2LAB).reshape(-1, 3)
    lab_ref = cv2.cvtColor(ref, cv2.COLOR_BGR2LAB).reshape(-1, 3)
    lab_img = cv2.cvtColor(img, cv2.COLOR_BGR2LAB).reshape(-1, 3)
    assert np.abs(lab_img.mean(0) - lab_ref.mean(0)).max() > 5  # a real gap to close
    np.testing.assert_allclose(lab_out.mean(0), lab_ref.mean(0), atol=1.5)
    np.testing.assert_allclose(lab_out.std(0), lab_ref.std(0), rtol=0.1, atol=1.0)
    assert out.dtype == np.float32 and out.shape == img.shape and out.min() >= 0 and out.max() <= 1


def test_rct_mask_restricts_statistics(faces):
    img, ref = faces
    mask = np.zeros(img.shape[:2], np.float32)
    mask[24:72, 24:72] = 1
    plain, masked = rct(img, ref), rct(img, ref, mask, mask)
    assert np.abs(plain - masked).max() > 0.02


@pytest.mark.parametrize("fn", [lct, mkl])
def test_linear_transfers_match_mean_and_covariance(faces, fn):
    img, ref = faces
    out = fn(img, ref)
    before_mean, before_cov = _mean_gap(img, ref), _cov_gap(img, ref)
    assert _mean_gap(out, ref) < 0.1 * before_mean
    assert _cov_gap(out, ref) < 0.25 * before_cov


def test_mkl_moves_less_than_lct_would_for_same_statistics(faces):
    """MKL is the least-motion linear map: its mean squared displacement is not above lct's."""
    img, ref = faces
    d_mkl = float(((mkl(img, ref) - img) ** 2).mean())
    d_lct = float(((lct(img, ref) - img) ** 2).mean())
    assert d_mkl <= d_lct * 1.05


# idt relaxes each of its 20 rotations by 1/20, so it closes about 1 - (19/20)^20 = 64 % of the gap.
@pytest.mark.parametrize(("mode", "left"), [("idt", 0.45), ("sot", 0.35)])
def test_distribution_transfers_pull_histograms_toward_reference(faces, mode, left):
    img, ref = faces
    out = color_transfer(mode, img, ref, rng=np.random.default_rng(0))
    assert _mean_gap(out, ref) < left * _mean_gap(img, ref)
    # Per-channel histograms get closer (1-D Wasserstein distance via sorted values).
    def w1(x, y):
        return np.abs(np.sort(x.reshape(-1, 3), 0) - np.sort(y.reshape(-1, 3), 0)).mean()
    assert w1(out, ref) < 0.5 * w1(img, ref)
    # Structure stays: the result still correlates with the input's lightness.
    gray = lambda a: cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).ravel()  # noqa: E731
    assert np.corrcoef(gray(out), gray(img))[0, 1] > 0.8


def test_randomised_modes_are_reproducible_with_a_seed(faces):
    img, ref = faces
    for mode in ("idt", "sot"):
        a = color_transfer(mode, img, ref, rng=np.random.default_rng(5))
        b = color_transfer(mode, img, ref, rng=np.random.default_rng(5))
        np.testing.assert_array_equal(a, b)


def test_sot_resizes_a_reference_of_other_size(faces):
    img, ref = faces
    out = sot(img, cv2.resize(ref, (64, 64)), rng=np.random.default_rng(1))
    assert out.shape == img.shape


@pytest.mark.parametrize("mode", MERGE_MODES)
def test_every_merge_mode_runs_with_a_mask(faces, mode):
    img, ref = faces
    mask = np.zeros(img.shape[:2] + (1,), np.float32)
    cv2.circle(mask, (48, 48), 36, 1.0, -1)
    out = color_transfer(mode, img, ref, mask=mask, rng=np.random.default_rng(2))
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    inside = mask[..., 0] > 0
    # Inside the face the colours move toward the reference's.
    assert _mean_gap(out[inside], ref[inside]) < _mean_gap(img[inside], ref[inside])


def test_masked_modes_need_a_mask_and_unknown_modes_fail(faces):
    img, ref = faces
    with pytest.raises(ValueError, match="mask"):
        color_transfer("sot-m", img, ref)
    with pytest.raises(ValueError, match="unknown colour transfer mode"):
        color_transfer("xyz", img, ref)
    assert color_transfer("none", img, ref) is not None
    assert set(TRAIN_MODES) <= set(MERGE_MODES) | {"sot"}
