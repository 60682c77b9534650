"""SAEHD's loss terms (dfl-models.md §1.7, §2.7), each a per-sample vector (B,) like DFL's.

DFL differentiates the batch *sum* of these vectors; callers must do the same (`.sum()`, not
`.mean()`), which matters through AdaBelief's epsilon. Inputs are NCHW float tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from neuface.dfl.losses import dssim, gaussian_blur


def style_loss(target: torch.Tensor, style: torch.Tensor, blur_radius: float = 0.0,
               weight: float = 1.0) -> torch.Tensor:
    """DFL's nn.style_loss: squared differences of per-channel spatial mean and std (var + 1e-5). (B,)"""
    if blur_radius > 0:
        target = gaussian_blur(target, blur_radius)
        style = gaussian_blur(style, blur_radius)
    c_var, c_mean = torch.var_mean(target, dim=(2, 3), correction=0)
    s_var, s_mean = torch.var_mean(style, dim=(2, 3), correction=0)
    mean_loss = (c_mean - s_mean).square().sum(1)
    std_loss = (torch.sqrt(c_var + 1e-5) - torch.sqrt(s_var + 1e-5)).square().sum(1)
    return (mean_loss + std_loss) * (weight / target.shape[1])


def total_variation_mse(x: torch.Tensor) -> torch.Tensor:
    """Sum of squared vertical and horizontal neighbour differences per sample. (B,)"""
    dv = (x[:, :, 1:, :] - x[:, :, :-1, :]).square().sum(dim=(1, 2, 3))
    dh = (x[:, :, :, 1:] - x[:, :, :, :-1]).square().sum(dim=(1, 2, 3))
    return dv + dh


def d_loss(label: float, logits: torch.Tensor) -> torch.Tensor:
    """DFL's DLoss: mean sigmoid cross-entropy against a constant label, per sample. (B,)"""
    target = torch.full_like(logits, label)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).mean(1)


def mask_blur(mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """The softened loss mask: clip(gaussian_blur(mask, max(1, res//32)), 0, 0.5) * 2."""
    return gaussian_blur(mask, max(1, resolution // 32)).clamp(0.0, 0.5) * 2.0


def dssim_kernel_sizes(resolution: int) -> list[tuple[float, int]]:
    """(weight, filter size) of the DSSIM terms: res < 256 one term, else two (res/11.6, res/23.2)."""
    if resolution < 256:
        return [(10.0, int(resolution / 11.6))]
    return [(5.0, int(resolution / 11.6)), (5.0, int(resolution / 23.2))]


@dataclass
class SideLoss:
    """One side's per-sample loss and its parts (all (B,))."""

    total: torch.Tensor
    dssim: torch.Tensor
    mse: torch.Tensor
    mask: torch.Tensor
    eyes_mouth: torch.Tensor | None = None


def reconstruction_loss(target: torch.Tensor, target_mask: torch.Tensor, target_em: torch.Tensor | None,
                        pred: torch.Tensor, pred_mask: torch.Tensor, resolution: int,
                        masked_training: bool = True, eyes_mouth_prio: bool = False,
                        blur: torch.Tensor | None = None) -> SideLoss:
    """One side's SAEHD loss: DSSIM + 10*MSE on the (blur-)masked images, eyes/mouth prio, 10*mask MSE."""
    if masked_training:
        blur = mask_blur(target_mask, resolution) if blur is None else blur
        t, p = target * blur, pred * blur
    else:
        t, p = target, pred
    ds = sum(w * dssim(t, p, 1.0, fs).mean(1) for w, fs in dssim_kernel_sizes(resolution))
    mse = 10.0 * (t - p).square().mean(dim=(1, 2, 3))
    mask_term = 10.0 * (target_mask - pred_mask).square().mean(dim=(1, 2, 3))
    total = ds + mse + mask_term
    em = None
    if eyes_mouth_prio and target_em is not None:
        em = 300.0 * (target * target_em - pred * target_em).abs().mean(dim=(1, 2, 3))
        total = total + em
    return SideLoss(total, ds, mse, mask_term, em)  # type: ignore[arg-type]
