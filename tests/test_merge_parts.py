"""The merge's pieces on their own: mask-mode parsing, DFL's erode/blur, stored-mask re-warping, hist-match,
XSeg mask modes with DFL's XSeg fixture weights, and the label."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.dfl.align import get_transform_mat, transform_points
from neuface.dfl.landmarks import get_image_hull_mask
from neuface.errors import UsageError
from neuface.merge import masks as M
from neuface.merge.effects import bicubic_degrade, blur_sharpen, denoise, hist_match, reduce_colors
from neuface.merge.faces import FrameFace
from neuface.merge.label import draw_label, label_rect
from neuface.merge.merger import FrameMerger
from neuface.merge.models import ModelOutputs, ModelRunner
from neuface.merge.options import MergeOptions, parse_mask_mode
from neuface.merge.preview import preview_indices


@pytest.fixture(scope="module")
def face_landmarks(dfl_fixtures: Path) -> tuple[np.ndarray, np.ndarray]:
    """(frame, 68 frame-space landmarks) from DFL's own aligned fixture and its source frame."""
    from neuface.faceset import dfljpg

    jpg = sorted((dfl_fixtures / "aligned").glob("*.jpg"))[0]
    meta = dfljpg.read_meta(jpg)
    lm = np.asarray(meta.source_landmarks, np.float64)
    x1, y1 = (lm.max(0) * 1.6).astype(int) + 64
    return np.full((y1, x1, 3), 128, np.uint8), lm


def test_parse_mask_mode() -> None:
    assert parse_mask_mode("4") == ("learned-prd", "learned-dst")
    assert parse_mask_mode("XSeg-prd*XSeg-dst") == ("xseg-prd", "xseg-dst")
    assert parse_mask_mode("9") == ("learned-prd", "learned-dst", "xseg-prd", "xseg-dst")
    assert parse_mask_mode("learned-prd+learned-dst*stored") == ("learned-prd+learned-dst", "stored")
    for bad in ("10", "nose", "", "learned-prd**dst"):
        with pytest.raises(UsageError):
            parse_mask_mode(bad)
    with pytest.raises(UsageError, match="--erode"):
        MergeOptions(erode=401).validated()
    with pytest.raises(UsageError, match="--color-transfer"):
        MergeOptions(color_transfer="sot").validated()  # training-only mode


def test_erode_blur_follows_dfl() -> None:
    res = 32
    mask = np.zeros((res, res), np.float32)
    mask[8:24, 8:24] = 1.0
    plain = M.erode_blur(mask, res, 0, 0)
    assert plain.shape == (4 * res, 4 * res)
    eroded = M.erode_blur(mask, res, 9, 0)
    dilated = M.erode_blur(mask, res, -9, 0)
    assert (eroded > 0.5).sum() < (plain > 0.5).sum() < (dilated > 0.5).sum()
    blurred = M.erode_blur(mask, res, 0, 21)
    soft = ((blurred > 0.01) & (blurred < 0.99)).sum()
    assert soft > 2 * ((plain > 0.01) & (plain < 0.99)).sum()
    full = M.erode_blur(np.ones((res, res), np.float32), res, 0, 40)
    assert full[0].max() < 0.01 and full[64, 64] > 0.99  # the blur/2 border band is cleared first: edges fade out


def test_stored_mask_is_rewarped_between_face_types(face_landmarks) -> None:
    frame, lm = face_landmarks
    hull = get_image_hull_mask(frame.shape, lm)[..., 0]
    stored = cv2.warpAffine(hull, get_transform_mat(lm, 256, "whole_face"), (256, 256))
    res = 96
    crop_mat = get_transform_mat(lm, res, "full_face")
    expected = cv2.warpAffine(hull, crop_mat, (res, res))
    got = M.stored_mask(stored, "whole_face", lm, crop_mat, res)
    assert np.abs(got - expected).mean() < 0.02
    assert (got > 0.5).sum() == pytest.approx((expected > 0.5).sum(), rel=0.05)
    assert M.hull_mask(lm, crop_mat, res).sum() == pytest.approx(expected.sum(), rel=0.05)


def test_hist_match_and_sharpen() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((40, 40, 3)).astype(np.float32)
    ref = np.clip(img * 0.5 + 0.3, 0, 1).astype(np.float32)
    out = hist_match(img, ref)
    assert np.abs(out.mean((0, 1)) - ref.mean((0, 1))).max() < 0.02
    assert np.abs(hist_match(img, img) - np.rint(img * 255) / 255).max() < 1e-6
    assert hist_match(img, ref, threshold=128).mean() < out.mean()
    smooth = cv2.GaussianBlur(img, (7, 7), 0)
    assert blur_sharpen(smooth, 80).std() > smooth.std() > blur_sharpen(smooth, -80).std()


class _Identity(ModelRunner):
    def run_batch(self, faces: np.ndarray) -> ModelOutputs:
        ones = np.ones(faces.shape[:3], np.float32)
        return ModelOutputs(faces.copy(), ones, ones)


def test_xseg_mask_modes_with_dfl_weights(model_fixtures: Path, face_landmarks) -> None:
    from neuface.xseg.infer import XSegMasker

    xseg = XSegMasker.from_dir(model_fixtures / "xseg_256" / "weights", device="cpu", precision="fp32")
    frame, lm = face_landmarks
    rng = np.random.default_rng(1)
    frame = cv2.GaussianBlur(rng.integers(0, 255, frame.shape, dtype=np.uint8), (9, 9), 0)
    runner = _Identity(name="id", iteration=None, resolution=64, face_type="whole_face")
    opts = MergeOptions(mask_mode="xseg-prd*xseg-dst", label=False, color_transfer="none")
    with FrameMerger(runner, opts, xseg) as merger:
        items = merger._crops([frame], [[FrameFace(lm)]])
        outputs = runner.run(np.stack([it.crop for it in items]))
        found = merger._xseg(items, [frame], outputs)
        assert set(found) == {"xseg-prd", "xseg-dst"}
        assert found["xseg-dst"].shape == (1, 64, 64) and 0 <= found["xseg-dst"].min() <= found["xseg-dst"].max() <= 1
        mask = merger._mask(items[0], 0, outputs, found)
        np.testing.assert_allclose(mask, found["xseg-prd"][0] * found["xseg-dst"][0], atol=1e-6)
        merged = merger.submit([1], [frame.copy()], [[FrameFace(lm)]])[0].result()
        assert merged.shape == frame.shape


def test_label_and_preview_indices() -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    draw_label(frame)
    x0, y0, x1, y1 = label_rect(frame.shape)
    assert x1 <= 640 and y1 <= 360 and x0 > 320 and y0 > 300  # bottom-right corner
    assert frame[y0:y1, x0:x1].max() == 255 and frame[:y0].max() == 0
    small = np.zeros((64, 64, 3), np.uint8)  # raw-predict square: a shorter label that fits
    draw_label(small)
    x0, y0, x1, y1 = label_rect(small.shape)
    assert x0 > 0 and small[y0:y1, x0:x1].max() > 150 and small[:y0].max() == 0
    assert preview_indices(100, 4) == [13, 38, 63, 88]
    assert preview_indices(3, 5) == [1, 2, 3]


def test_face_outside_the_frame_is_skipped(face_landmarks) -> None:
    from neuface.merge.paste import FaceResult, merge_face

    frame, lm = face_landmarks
    far = lm + 10_000
    mat = get_transform_mat(far, 64, "whole_face")
    assert transform_points(np.float32([[0, 0]]), mat, invert=True).min() > frame.shape[1]
    crop = np.zeros((64, 64, 3), np.float32)
    job = FaceResult(far, "whole_face", crop, crop, np.ones((64, 64), np.float32))
    before = frame.copy()
    assert merge_face(frame, job, MergeOptions(), np.random.default_rng(0)) is False
    assert np.array_equal(frame, before)


def test_degrade_effects_follow_their_power() -> None:
    rng = np.random.default_rng(3)
    smooth = cv2.GaussianBlur(rng.random((48, 48, 3)).astype(np.float32), (7, 7), 0)
    # box sharpening is harsher than gaussian at the same amount; both leave 0 alone.
    assert blur_sharpen(smooth, 60, "box").std() > blur_sharpen(smooth, 60, "gaussian").std() > smooth.std()
    assert blur_sharpen(smooth, 0, "box") is smooth
    # denoise: salt-and-pepper dots go, one full pass per 100, partial passes in between.
    noisy = smooth.copy()
    noisy[rng.random(noisy.shape[:2]) < 0.05] = 1.0
    err = [float(np.abs(denoise(noisy, p) - smooth).mean()) for p in (0, 50, 100)]
    assert err[0] > err[1] > err[2] and (denoise(noisy, 100) > 0.99).mean() < 0.002
    lap = [float(np.abs(cv2.Laplacian(denoise(noisy, p), cv2.CV_32F)).mean()) for p in (100, 300)]
    assert lap[0] > lap[1]  # more passes, smoother
    # bicubic degrade loses high frequencies, more with more power; shape and range kept.
    sharp = rng.random((64, 64, 3)).astype(np.float32)
    lap = [float(np.abs(cv2.Laplacian(bicubic_degrade(sharp, p), cv2.CV_32F)).mean()) for p in (0, 30, 90)]
    assert lap[0] > lap[1] > lap[2]
    out = bicubic_degrade(sharp, 90)
    assert out.shape == sharp.shape and 0 <= out.min() and out.max() <= 1
    # colour degrade at full power: at most 256 colours; at 0: untouched.
    reduced = reduce_colors(sharp, 100)
    assert len(np.unique(np.rint(reduced * 255).reshape(-1, 3), axis=0)) <= 256 < len(np.unique(sharp.reshape(-1, 3),
                                                                                               axis=0))
    assert reduce_colors(sharp, 0) is sharp


def test_post_effects_change_only_the_face(face_landmarks) -> None:
    from neuface.merge.paste import FaceResult, merge_face

    frame, lm = face_landmarks
    rng = np.random.default_rng(2)
    frame = cv2.GaussianBlur(rng.integers(0, 255, frame.shape, dtype=np.uint8), (5, 5), 0)
    crop = cv2.warpAffine(frame, get_transform_mat(lm, 64, "whole_face"), (64, 64)).astype(np.float32) / 255
    job = FaceResult(lm, "whole_face", crop, crop, np.ones((64, 64), np.float32))
    base = dict(label=False, color_transfer="none", mask_mode="full")
    plain = frame.copy()
    merge_face(plain, job, MergeOptions(**base), rng)
    box = np.zeros(frame.shape[:2], bool)
    pts = transform_points(np.float32([(0, 0), (64, 0), (64, 64), (0, 64)]), get_transform_mat(lm, 64, "whole_face"),
                           invert=True)
    (x0, y0), (x1, y1) = np.floor(pts.min(0)).astype(int) - 6, np.ceil(pts.max(0)).astype(int) + 6
    box[max(y0, 0):y1, max(x0, 0):x1] = True
    for effect in ({"sharpen": 50, "sharpen_mode": "box"}, {"denoise": 200}, {"bicubic_degrade": 60},
                   {"color_degrade": 100}):
        out = frame.copy()
        merge_face(out, job, MergeOptions(**base, **effect), np.random.default_rng(0))
        assert np.array_equal(out[~box], frame[~box]), effect
        assert np.abs(out.astype(int) - plain.astype(int))[box].mean() > 0.3, effect


def test_raw_predict_outputs_the_model_square(face_landmarks) -> None:
    frame, lm = face_landmarks
    runner = _Identity(name="id", iteration=None, resolution=64, face_type="whole_face")
    opts = MergeOptions(mode="raw-predict", label=False)
    with FrameMerger(runner, opts) as merger:
        crop = merger._crops([frame], [[FrameFace(lm)]])[0].crop
        with_face, without = (f.result() for f in merger.submit([1, 2], [frame.copy(), frame.copy()],
                                                                [[FrameFace(lm)], []]))
    assert with_face.shape == without.shape == (64, 64, 3)
    assert np.array_equal(with_face, np.clip(np.rint(crop * 255), 0, 255).astype(np.uint8))
    assert without.max() == 0  # no face: a black square, so every frame has the model's size
    for bad in ({"denoise": 501}, {"bicubic_degrade": -1}, {"color_degrade": 101}, {"sharpen_mode": "median"}):
        with pytest.raises(UsageError):
            MergeOptions(**bad).validated()


@pytest.fixture(scope="module")
def cast_face(face_landmarks):
    """A textured frame, its face and a prediction with a strong blue cast (what colour transfer must undo)."""
    from neuface.merge.paste import FaceResult

    frame, lm = face_landmarks
    rng = np.random.default_rng(5)
    frame = cv2.GaussianBlur(rng.integers(40, 215, frame.shape, dtype=np.uint8), (9, 9), 0)
    crop = cv2.warpAffine(frame, get_transform_mat(lm, 64, "whole_face"), (64, 64)).astype(np.float32) / 255
    cast = np.clip(crop * 0.6 + np.float32([0.35, 0.0, 0.05]), 0, 1)
    job = FaceResult(lm, "whole_face", crop, cast, np.ones((64, 64), np.float32))
    inner = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillConvexPoly(inner, cv2.convexHull(lm.astype(np.int32)), 1)
    return frame, job, inner.astype(bool)


def _merge_err(cast_face, **kw) -> float:
    """Mean abs difference from the original frame inside the face hull; asserts nothing outside moved."""
    from neuface.merge.paste import merge_face

    frame, job, inner = cast_face
    out = frame.copy()
    assert merge_face(out, job, MergeOptions(label=False, mask_mode="full", **kw), np.random.default_rng(0))
    lm = job.landmarks
    pts = transform_points(np.float32([(0, 0), (64, 0), (64, 64), (0, 64)]), get_transform_mat(lm, 64, "whole_face"),
                           invert=True)
    (x0, y0), (x1, y1) = np.floor(pts.min(0)).astype(int) - 6, np.ceil(pts.max(0)).astype(int) + 6
    box = np.zeros(frame.shape[:2], bool)
    box[max(y0, 0):y1, max(x0, 0):x1] = True
    assert np.array_equal(out[~box], frame[~box]), kw
    return float(np.abs(out.astype(int) - frame.astype(int))[inner].mean())


@pytest.mark.parametrize("mode", ["rct", "lct", "mkl", "mkl-m", "idt", "idt-m", "sot-m", "mix-m"])
def test_color_transfer_modes_undo_a_colour_cast(cast_face, mode) -> None:
    none = _merge_err(cast_face, color_transfer="none")
    assert none > 20
    assert _merge_err(cast_face, color_transfer=mode) < 0.6 * none, mode


@pytest.mark.parametrize("mode", ["hist-match", "seamless", "seamless-hist-match"])
def test_paste_modes_match_the_dst_colours(cast_face, mode) -> None:
    none = _merge_err(cast_face, color_transfer="none")
    assert 0 < _merge_err(cast_face, mode=mode, color_transfer="none") < 0.6 * none, mode
    assert _merge_err(cast_face, mode="raw-rgb", color_transfer="rct") == pytest.approx(none, rel=0.1)  # raw: as is
