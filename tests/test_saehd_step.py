"""The training step beyond the reference: low-precision and channels-last paths, and every optional loss
(GAN, true face, styles, eyes/mouth, blur-out mask, lr_dropout, clipgrad) actually training the right parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _saehd_ref import nchw, ref_batch, ref_dir, ref_model
from neuface.runtime import Precision, autocast
from neuface.train.model import apply_options, build_model
from neuface.train.options import SAEHDOptions
from neuface.train.step import SAEHDBatch, SAEHDTrainer, blur_out_mask

TINY = dict(resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16, batch_size=2)


def _batch(n: int = 2, res: int = 64, seed: int = 0) -> SAEHDBatch:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    mask = ((xx / 0.7) ** 2 + (yy / 0.85) ** 2 < 1).float().expand(n, 1, res, res).contiguous()
    em = ((xx.abs() < 0.4) & ((yy + 0.3).abs() < 0.1)).float().expand(n, 1, res, res).contiguous()
    imgs = [torch.rand(n, 3, res, res, generator=g) for _ in range(4)]
    return SAEHDBatch(imgs[0], imgs[1], mask, em, imgs[2], imgs[3], mask.clone(), em.clone())


def _snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(module: torch.nn.Module, before: list[torch.Tensor]) -> bool:
    return any(not torch.equal(p, b) for p, b in zip(module.parameters(), before, strict=True))


def test_bf16_and_channels_last_stay_close_to_fp32(model_fixtures):
    ref = ref_dir(model_fixtures)
    net = ref_model(ref).net
    b = ref_batch(ref)
    with torch.no_grad():
        full = net(b.warped_src, b.warped_dst, swap=True)
        with autocast(torch.device("cpu"), Precision("bf16")):
            low = net(b.warped_src, b.warped_dst, swap=True)
        with autocast(torch.device("cpu"), Precision("fp16")):
            half = net(b.warped_src, b.warped_dst)
        net.to(memory_format=torch.channels_last)
        cl = b.to("cpu", channels_last=True)
        last = net(cl.warped_src, cl.warped_dst, swap=True)
    for name in ("pred_src_src", "pred_src_srcm", "pred_dst_dst", "pred_dst_dstm", "pred_src_dst", "pred_src_dstm"):
        want = getattr(full, name)
        rel = (getattr(low, name).float() - want).abs().max() / want.abs().max()
        assert rel < 1e-2, (name, float(rel))
        assert (getattr(last, name) - want).abs().max() < 1e-5, name
        if name in ("pred_src_src", "pred_dst_dstm"):
            assert (getattr(half, name).float() - want).abs().max() / want.abs().max() < 1e-2, name
    assert (full.pred_src_dst - nchw(ref, "out_src_dst")).abs().max() < 1e-4


def test_bf16_channels_last_training_step_tracks_fp32(model_fixtures):
    ref = ref_dir(model_fixtures)
    model = ref_model(ref)
    model.src_dst_opt.fused = False
    result = SAEHDTrainer(model, Precision("bf16"), channels_last=True).train_step(ref_batch(ref))
    want = np.load(ref / "loss_step0_src.npy")
    assert np.abs(result.src_loss - want).max() / want.max() < 1e-2
    b = ref_batch(ref)
    with torch.no_grad():
        out = model.net(b.warped_src, b.warped_dst)
    after, before = nchw(ref, "out_src_src_after_step1"), nchw(ref, "out_src_src")
    # bf16 gradients differ a little from fp32 ones, but the step must move outputs like DFL's step did
    assert (out.pred_src_src - after).abs().max() < 0.3 * (after - before).abs().max()


def test_fp16_training_step_scales_the_loss_and_tracks_fp32(model_fixtures):
    ref = ref_dir(model_fixtures)
    model = ref_model(ref)
    model.src_dst_opt.fused = False
    trainer = SAEHDTrainer(model, Precision("fp16"))
    assert trainer.scaler.is_enabled()
    # GradScaler starts at 2**16 and halves on every overflow; this model settles near 2**12: start there
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    result = trainer.train_step(ref_batch(ref))
    want = np.load(ref / "loss_step0_src.npy")
    assert np.abs(result.src_loss - want).max() / want.max() < 1e-2
    assert model.src_dst_opt.iters == 1 and trainer.scaler.get_scale() == 2.0**10  # no overflow, no backoff
    b = ref_batch(ref)
    with torch.no_grad():
        out = model.net(b.warped_src, b.warped_dst)
    after, before = nchw(ref, "out_src_src_after_step1"), nchw(ref, "out_src_src")
    assert (out.pred_src_src - after).abs().max() < 0.3 * (after - before).abs().max()


def test_fp16_gradients_through_the_pixel_normed_encoder_are_finite():
    """archi -u's pixel norm divides by rms^3 in its backward: in fp16 that overflowed for a young model."""
    opts = SAEHDOptions.default(d_dims=16, **{k: v for k, v in TINY.items() if k != "d_dims"})
    assert "u" in opts.archi
    torch.manual_seed(0)
    model = build_model(opts, "cpu")
    grads = {}
    for name in ("fp32", "fp16"):
        trainer = SAEHDTrainer(model, Precision(name))
        model.src_dst_opt.zero_grad()
        g_loss, _, _ = trainer.generator_loss(_batch())
        (g_loss.sum() * 1024).backward()  # loss scaling, as the GradScaler does (fp16 underflows without it)
        grads[name] = [p.grad / 1024 for p in model.net.encoder.parameters()]
    model.src_dst_opt.zero_grad()
    for want, got in zip(grads["fp32"], grads["fp16"], strict=True):
        assert torch.isfinite(got).all()
        assert (got - want).abs().max() < 0.15 * want.abs().max()  # fp16 through a dozen layers: a few %


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"))])
def test_fp16_overflow_skips_every_update_and_backs_off_the_scale(device: str):
    opts = SAEHDOptions(archi="df-ud", gan_power=0.1, true_face_power=0.1, **TINY)
    model = build_model(opts, device)
    if device == "cpu":  # the skip is the GradScaler's; compiling three fused updates on a CPU only costs time
        for _, opt in model.optimizer_parts():
            opt.fused = False
    trainer = SAEHDTrainer(model, Precision("fp16"))
    assert trainer.scaler.is_enabled()
    trainer.scaler = torch.amp.GradScaler(device, init_scale=2.0**60)  # scaled fp16 gradients overflow at once
    before = {name: _snapshot(part) for name, part in model.weight_parts()}
    trainer.train_step(_batch())
    assert [name for name, part in model.weight_parts() if _changed(part, before[name])] == []
    assert all(opt.iters == 0 for _, opt in model.optimizer_parts())  # generator and both discriminators
    assert trainer.scaler.get_scale() == 2.0**59 and model.iter == 1
    trainer.scaler.update(new_scale=16.0)
    trainer.train_step(_batch(seed=1))
    assert [name for name, part in model.weight_parts() if _changed(part, before[name])] == \
        [name for name, _ in model.weight_parts()]
    assert all(opt.iters == 1 for _, opt in model.optimizer_parts())


def test_every_optional_loss_trains_its_parts():
    opts = SAEHDOptions(archi="df-ud", gan_power=0.1, true_face_power=0.1, face_style_power=10.0, bg_style_power=10.0,
                        eyes_mouth_prio=True, blur_out_mask=True, lr_dropout="y", clipgrad=True, **TINY)
    torch.manual_seed(0)
    model = build_model(opts)
    for _, opt in model.optimizer_parts():
        opt.fused = False
    assert model.gan is not None and model.code_discriminator is not None
    assert model.src_dst_opt.lr_dropout == 0.3 and model.src_dst_opt.lr_cos == 500 and model.src_dst_opt.clipnorm == 1
    before = {name: _snapshot(mod) for name, mod in model.weight_parts()}
    result = SAEHDTrainer(model).train_step(_batch())
    assert np.isfinite(result.src_loss).all() and np.isfinite(result.dst_loss).all()
    for name, mod in model.weight_parts():
        assert _changed(mod, before[name]), f"{name} was not trained"
    assert model.gan_opt.iters == 1 and model.code_discriminator_opt.iters == 1


def test_style_terms_add_to_the_src_loss_only():
    torch.manual_seed(0)
    plain = build_model(SAEHDOptions(archi="liae-ud", **TINY))
    styled = build_model(SAEHDOptions(archi="liae-ud", face_style_power=50.0, bg_style_power=50.0, **TINY))
    styled.net.load_state_dict(plain.net.state_dict())
    b = _batch()
    with torch.no_grad():
        _, s0, d0 = SAEHDTrainer(plain).generator_loss(b)
        _, s1, d1 = SAEHDTrainer(styled).generator_loss(b)
    assert torch.equal(d0, d1) and (s1 > s0 + 1e-3).all()


def test_liae_without_random_warp_freezes_inter_ab():
    torch.manual_seed(0)
    model = build_model(SAEHDOptions(archi="liae-ud", random_warp=False, **TINY))
    model.src_dst_opt.fused = False
    ab, b_ = _snapshot(model.net.inter_AB), _snapshot(model.net.inter_B)
    SAEHDTrainer(model).train_step(_batch())
    assert not _changed(model.net.inter_AB, ab) and _changed(model.net.inter_B, b_)
    apply_options(model, model.options.replace(random_warp=True))
    SAEHDTrainer(model).train_step(_batch())
    assert _changed(model.net.inter_AB, ab)


def test_pretrain_switches_and_turning_it_off_resets():
    torch.manual_seed(0)
    model = build_model(SAEHDOptions(archi="df-ud", pretrain=True, gan_power=1.0, lr_dropout="y", **TINY))
    assert model.gan is None and model.src_dst_opt.lr_dropout == 1.0
    model.iter = 10
    inter = _snapshot(model.net.inter)
    enc = _snapshot(model.net.encoder)
    reset = apply_options(model, model.options.replace(pretrain=False))
    assert model.iter == 0 and "inter" in reset and "GAN" in reset and model.gan is not None
    assert _changed(model.net.inter, inter) and not _changed(model.net.encoder, enc)
    with pytest.raises(Exception, match="resolution"):
        apply_options(model, model.options.replace(resolution=128))


def test_blur_out_mask_keeps_the_face_and_fills_outside():
    b = _batch()
    out = blur_out_mask(b.target_src, b.target_srcm, 64)
    inside = b.target_srcm.expand_as(out) > 0
    assert torch.equal(out[inside], b.target_src[inside])
    assert not torch.allclose(out[~inside], b.target_src[~inside])
