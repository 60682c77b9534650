"""SAEHD loss terms against DFL's values for the LIAE-UD 64 reference (step 0), plus the helpers' own rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _saehd_ref import nchw, ref_batch, ref_dir, ref_model
from neuface.dfl.losses import dssim, gaussian_blur
from neuface.train.losses import (
    d_loss,
    dssim_kernel_sizes,
    mask_blur,
    reconstruction_loss,
    style_loss,
    total_variation_mse,
)
from neuface.train.step import SAEHDTrainer


def test_loss_terms_match_dfl(model_fixtures):
    ref = ref_dir(model_fixtures)
    net = ref_model(ref).net
    b = ref_batch(ref)
    with torch.no_grad():
        out = net(b.warped_src, b.warped_dst)
    sides = {"src": (b.target_src, b.target_srcm, b.target_srcm_em, out.pred_src_src, out.pred_src_srcm),
             "dst": (b.target_dst, b.target_dstm, b.target_dstm_em, out.pred_dst_dst, out.pred_dst_dstm)}
    for side, (t, tm, em, p, pm) in sides.items():
        assert (mask_blur(tm, 64) - nchw(ref, f"loss_target_{side}m_blur")).abs().max() < 1e-5
        loss = reconstruction_loss(t, tm, em, p, pm, 64)
        for term, got in (("dssim", loss.dssim), ("mse", loss.mse), ("mask", loss.mask)):
            want = np.load(ref / f"loss_{side}_{term}_term.npy")
            assert np.abs(got.numpy() - want).max() < 1e-4, (side, term)
        assert np.abs(loss.total.numpy() - np.load(ref / f"loss_step0_{side}.npy")).max() < 1e-4


def test_trainer_generator_loss_matches_dfl(model_fixtures):
    ref = ref_dir(model_fixtures)
    trainer = SAEHDTrainer(ref_model(ref))
    with torch.no_grad():
        g, src, dst = trainer.generator_loss(ref_batch(ref))
    assert np.abs(src.numpy() - np.load(ref / "loss_step0_src.npy")).max() < 1e-4
    assert np.abs(dst.numpy() - np.load(ref / "loss_step0_dst.npy")).max() < 1e-4
    assert torch.allclose(g, src + dst)


def test_gaussian_blur_equals_direct_2d_kernel():
    x = torch.rand(2, 3, 20, 17, dtype=torch.float64)
    sigma = 2.0
    ks = 9  # max(3, int(4*sigma)) made odd
    t = np.arange(ks) - ks // 2
    k1 = np.exp(-(t**2) / (2 * sigma**2))
    k2 = np.outer(k1, k1)
    k2 /= k2.sum()
    w = torch.from_numpy(k2).view(1, 1, ks, ks).expand(3, 1, ks, ks)
    want = F.conv2d(x, w, padding=ks // 2, groups=3)
    assert torch.allclose(gaussian_blur(x, sigma), want, atol=1e-12)


def test_dssim_properties():
    a = torch.rand(2, 3, 32, 32)
    assert dssim(a, a, 1.0, 5).abs().max() < 1e-6
    d = dssim(a, torch.rand(2, 3, 32, 32), 1.0, 5)
    assert d.shape == (2, 3) and (d > 0.1).all()


@pytest.mark.parametrize(("res", "sizes"), [(64, [5]), (128, [11]), (224, [19]), (256, [22, 11]), (512, [44, 22])])
def test_dssim_kernel_sizes(res, sizes):
    assert [fs for _, fs in dssim_kernel_sizes(res)] == sizes


def test_eyes_mouth_prio_adds_300_l1():
    t, p = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    m = torch.ones(2, 1, 64, 64)
    em = torch.zeros(2, 1, 64, 64)
    em[:, :, 20:30, 20:40] = 1
    base = reconstruction_loss(t, m, em, p, m, 64)
    prio = reconstruction_loss(t, m, em, p, m, 64, eyes_mouth_prio=True)
    want = 300 * (t * em - p * em).abs().mean(dim=(1, 2, 3))
    assert torch.allclose(prio.total - base.total, want, atol=1e-5)


def test_style_tv_and_d_losses():
    x = torch.rand(3, 3, 16, 16)
    assert style_loss(x, x, 2, 10.0).abs().max() < 1e-6
    shifted = style_loss(x, x + 0.5, 0, 3.0)
    assert torch.allclose(shifted, torch.full((3,), 0.25 * 3 * 3.0 / 3), atol=1e-5)
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 4, 4)
    assert total_variation_mse(ramp).item() == pytest.approx(12.0)  # 4 rows x 3 unit steps
    logits = torch.zeros(2, 1, 5, 5)
    assert torch.allclose(d_loss(1.0, logits), torch.full((2,), float(np.log(2))))
