"""One SAEHD training iteration as DFL's `onTrainOneIter` runs it: the generator step (`src_dst_train`),
then the true-face code discriminator step and the GAN discriminator step, each a separate pass.

Speed choices (CPU and GPU alike): src and dst go through the shared encoder (and LIAE's inter_AB and
decoder) as one batch; the networks run under the runtime's autocast (bf16 where native) while weights,
losses and optimizer state stay fp32; the optimizer update is one fused pass. The loss is the batch
*sum* of DFL's per-sample losses, as DFL differentiates it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from neuface.dfl.losses import dssim, gaussian_blur
from neuface.dfl.optim import DflOptimizer
from neuface.runtime import Precision, autocast, grad_scaler
from neuface.train.cpu_memory import retain_freed_memory
from neuface.train.losses import d_loss, mask_blur, reconstruction_loss, style_loss
from neuface.train.losses import total_variation_mse as tv_mse
from neuface.train.model import SAEHDModel
from neuface.train.nn.saehd import SAEHDOutputs


@dataclass
class SAEHDBatch:
    """One batch of both sides, NCHW float32, BGR [0,1]; masks (B,1,H,W) in [0,1]."""

    warped_src: torch.Tensor
    target_src: torch.Tensor
    target_srcm: torch.Tensor
    target_srcm_em: torch.Tensor
    warped_dst: torch.Tensor
    target_dst: torch.Tensor
    target_dstm: torch.Tensor
    target_dstm_em: torch.Tensor

    def to(self, device: torch.device | str, channels_last: bool = False) -> SAEHDBatch:
        fmt = torch.channels_last if channels_last else torch.preserve_format
        return SAEHDBatch(**{f.name: getattr(self, f.name).to(device, torch.float32, memory_format=fmt,
                                                               non_blocking=True) for f in fields(self)})

    @classmethod
    def from_nhwc(cls, arrays: dict[str, np.ndarray]) -> SAEHDBatch:
        """From DFL-style NHWC arrays keyed by field name."""
        return cls(**{f.name: torch.from_numpy(np.ascontiguousarray(arrays[f.name].transpose(0, 3, 1, 2)))
                      for f in fields(cls)})


@dataclass
class StepResult:
    """Per-sample losses DFL reports (its UI shows their means)."""

    src_loss: np.ndarray
    dst_loss: np.ndarray

    @property
    def means(self) -> tuple[float, float]:
        return float(np.mean(self.src_loss)), float(np.mean(self.dst_loss))


class SAEHDTrainer:
    """Runs training iterations on an SAEHDModel (weights are updated in place)."""

    def __init__(self, model: SAEHDModel, precision: Precision | None = None, channels_last: bool = False):
        self.model = model
        self.device = model.device
        self.precision = precision or Precision("fp32")
        self.channels_last = channels_last
        if channels_last:
            for _, part in model.weight_parts():
                part.to(memory_format=torch.channels_last)
        if self.device.type == "cpu":
            retain_freed_memory()
        self.scaler = grad_scaler(self.device, self.precision)

    # ---- helpers --------------------------------------------------------------------------------
    def _autocast(self) -> Any:
        return autocast(self.device, self.precision)

    def _step(self, loss: torch.Tensor, opt: DflOptimizer) -> None:
        opt.zero_grad()
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)  # unscales through opt.param_groups; skips the step when a gradient overflowed
        opt.zero_grad()

    def _src_reconstruction(self, warped_src: torch.Tensor) -> torch.Tensor:
        net = self.model.net
        e = net.encoder(warped_src)
        if net.is_liae:
            ab = net.inter_AB(e)
            return net.decoder.forward_image(torch.cat([ab, ab], 1))
        return net.decoder_src.forward_image(net.inter(e))

    # ---- DFL's src_dst_train ----------------------------------------------------------------------
    def generator_loss(self, b: SAEHDBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(G loss per sample, src loss, dst loss) for one batch, as DFL's graph defines them."""
        m, o = self.model, self.model.options
        net, res = m.net, o.resolution
        face_style = o.face_style_power / 100.0 if not o.pretrain else 0.0
        bg_style = o.bg_style_power / 100.0 if not o.pretrain else 0.0
        with self._autocast():
            out: SAEHDOutputs = net(b.warped_src, b.warped_dst, swap=bg_style != 0)
        pss, pssm = out.pred_src_src.float(), out.pred_src_srcm.float()
        pdd, pddm = out.pred_dst_dst.float(), out.pred_dst_dstm.float()
        srcm_blur = mask_blur(b.target_srcm, res)
        src_loss = reconstruction_loss(b.target_src, b.target_srcm, b.target_srcm_em, pss, pssm, res,
                                       o.masked_training, o.eyes_mouth_prio, srcm_blur).total
        dst_loss = reconstruction_loss(b.target_dst, b.target_dstm, b.target_dstm_em, pdd, pddm, res,
                                       o.masked_training, o.eyes_mouth_prio, mask_blur(b.target_dstm, res)).total
        if face_style != 0:
            with self._autocast():
                code = out.dst_code
                if net.is_liae:  # DFL's swap code: dst's inter_AB code in both halves
                    ab = code[:, code.shape[1] // 2:]
                    code = torch.cat([ab, ab], 1)
                psd_ng, psdm_ng = (net.decoder if net.is_liae else net.decoder_src)(code.detach())
            target = psd_ng.float() * psdm_ng.float().detach()
            style = (pdd * pddm).detach()
            src_loss = src_loss + style_loss(target, style, res // 8, 10000 * face_style)
        if bg_style != 0:
            anti = 1.0 - srcm_blur.clamp(0.0, 1.0).detach()
            psd = out.pred_src_dst.float() * anti  # type: ignore[union-attr]
            tdst = b.target_dst * anti
            src_loss = src_loss + (10 * bg_style) * dssim(psd, tdst, 1.0, int(res / 11.6)).mean(1)
            src_loss = src_loss + (10 * bg_style) * (psd - tdst).square().mean(dim=(1, 2, 3))
        g_loss = src_loss + dst_loss
        tfp = o.effective_true_face_power
        if tfp != 0 and m.code_discriminator is not None:
            with self._autocast():
                logits = m.code_discriminator(out.src_code)
            g_loss = g_loss + tfp * d_loss(1.0, logits.float())
        gan_power = o.effective_gan_power
        if gan_power != 0 and m.gan is not None:
            p = pss * srcm_blur if o.masked_training else pss
            with self._autocast():
                pc, pf = m.gan(p)
            g_loss = g_loss + gan_power * (d_loss(1.0, pc.float()) + d_loss(1.0, pf.float()))
            if o.masked_training:
                anti = 1.0 - srcm_blur
                g_loss = g_loss + 1e-6 * tv_mse(pss)
                g_loss = g_loss + 0.02 * (pss * anti - b.target_src * anti).square().mean(dim=(1, 2, 3))
        return g_loss, src_loss, dst_loss

    # ---- discriminator passes (separate runs in DFL, after the generator update) -----------------
    def code_discriminator_step(self, b: SAEHDBatch) -> None:
        """DFL's D_train: 0.5*(BCE(1, D(dst code)) + BCE(0, D(src code))) on the updated generator."""
        m = self.model
        assert m.code_discriminator is not None and m.code_discriminator_opt is not None
        with torch.no_grad(), self._autocast():
            src_code, dst_code = m.net.src_dst_codes(b.warped_src, b.warped_dst)
        with self._autocast():
            d_src = m.code_discriminator(src_code).float()
            d_dst = m.code_discriminator(dst_code).float()
        loss = 0.5 * (d_loss(1.0, d_dst) + d_loss(0.0, d_src))
        self._step(loss.sum(), m.code_discriminator_opt)

    def gan_discriminator_step(self, b: SAEHDBatch) -> None:
        """DFL's D_src_dst_train: patch-GAN loss on masked target vs prediction (center and full logits)."""
        m, o = self.model, self.model.options
        assert m.gan is not None and m.gan_opt is not None
        with torch.no_grad():
            with self._autocast():
                pss = self._src_reconstruction(b.warped_src)
            pss = pss.float()
            t = b.target_src
            if o.masked_training:
                blur = mask_blur(b.target_srcm, o.resolution)
                pss, t = pss * blur, t * blur
        with self._autocast():
            tc, tf = m.gan(t)
            pc, pf = m.gan(pss)
        loss = (d_loss(1.0, tc.float()) + d_loss(0.0, pc.float())) * 0.5 \
            + (d_loss(1.0, tf.float()) + d_loss(0.0, pf.float())) * 0.5
        self._step(loss.sum(), m.gan_opt)

    # ---- one iteration -----------------------------------------------------------------------------
    def train_step(self, batch: SAEHDBatch) -> StepResult:
        """One DFL iteration; increments model.iter and appends to the loss history."""
        m, o = self.model, self.model.options
        b = batch.to(self.device, self.channels_last)
        if o.blur_out_mask:
            b.target_src = blur_out_mask(b.target_src, b.target_srcm, o.resolution)
            b.target_dst = blur_out_mask(b.target_dst, b.target_dstm, o.resolution)
        discriminators = [d for d in (m.code_discriminator, m.gan) if d is not None]
        for d in discriminators:  # the generator step must not compute their weight gradients
            d.requires_grad_(False)
        try:
            g_loss, src_loss, dst_loss = self.generator_loss(b)
            self._step(g_loss.sum(), m.src_dst_opt)
        finally:
            for d in discriminators:
                d.requires_grad_(True)
        if m.code_discriminator is not None and not o.pretrain and o.effective_true_face_power != 0:
            self.code_discriminator_step(b)
        if m.gan is not None and o.effective_gan_power != 0:
            self.gan_discriminator_step(b)
        self.scaler.update()
        result = StepResult(src_loss.detach().float().cpu().numpy(), dst_loss.detach().float().cpu().numpy())
        m.iter += 1
        m.loss_history.append(list(result.means))
        return result


def blur_out_mask(target: torch.Tensor, mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """DFL's blur_out_mask on a target image: keep the face, fill the background with blurred outside
    pixels, sigma res/128: t*m + blur(t*(1-m)) / (1 - blur(m)) * (1-m), a zero denominator read as 1."""
    sigma = resolution / 128.0
    anti = 1.0 - mask
    x = gaussian_blur(target * anti, sigma)
    y = 1.0 - gaussian_blur(mask, sigma)
    y = torch.where(y == 0, torch.ones_like(y), y)
    return target * mask + (x / y) * anti
