"""DFL's image filters the losses are built from (leras `nn.gaussian_blur`, `nn.dssim`), bit for bit.

SAEHD's reconstruction loss and XSeg's pretraining loss both use them; inputs are NCHW float tensors.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch


@functools.lru_cache(maxsize=32)
def _gaussian_blur_taps(radius: float) -> tuple[tuple[float, ...], int]:
    """DFL's gaussian_blur kernel: size max(3, int(4*sigma)) made odd, taps exp(-(t-floor(ks/2))^2/2s^2)."""
    ks = max(3, int(2 * 2 * radius))
    ks += 1 - ks % 2
    mean = math.floor(0.5 * ks)
    taps = np.exp(-((np.arange(ks, dtype=np.float64) - mean) ** 2) / (2 * radius**2))
    return tuple((taps / taps.sum()).tolist()), ks


@functools.lru_cache(maxsize=64)
def _band_matrix(size: int, taps: tuple[float, ...], pad: int) -> np.ndarray:
    """(out, size) matrix M with (M @ x) = 1-D correlation of x with `taps`, zero padding `pad` each side."""
    out = size + 2 * pad - len(taps) + 1
    # tap t sits on the diagonal j = i + t - pad (each entry gets at most one tap, so the sum is exact)
    return sum(tap * np.eye(out, size, t - pad) for t, tap in enumerate(taps))


def _separable(x: torch.Tensor, taps: tuple[float, ...], pad: int) -> torch.Tensor:
    """Per-channel separable filtering (the 2-D kernel is an outer product) as two banded matmuls:
    much faster than depthwise convolutions on CPU, identical math."""
    mh = torch.from_numpy(_band_matrix(x.shape[-2], taps, pad)).to(x.device, x.dtype)
    mw = torch.from_numpy(_band_matrix(x.shape[-1], taps, pad)).to(x.device, x.dtype)
    return torch.matmul(torch.matmul(mh, x), mw.t())


def gaussian_blur(x: torch.Tensor, radius: float) -> torch.Tensor:
    """DFL's nn.gaussian_blur: normalised Gaussian, zero padding ks//2 on every side, per channel."""
    taps, ks = _gaussian_blur_taps(float(radius))
    return _separable(x, taps, ks // 2)


@functools.lru_cache(maxsize=32)
def _ssim_taps(filter_size: int, sigma: float) -> tuple[float, ...]:
    """1-D factor of DFL's SSIM window (softmax over -(dx^2+dy^2)/2s^2 = outer product of 1-D Gaussians)."""
    coords = np.arange(filter_size, dtype=np.float64) - (filter_size - 1) / 2.0
    g = np.exp(-0.5 * coords**2 / sigma**2)
    return tuple((g / g.sum()).tolist())


def dssim(a: torch.Tensor, b: torch.Tensor, max_val: float = 1.0, filter_size: int = 11, sigma: float = 1.5,
          k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """DFL's nn.dssim: (1 - SSIM)/2 per (sample, channel), Gaussian window, VALID filtering. Shape (B, C)."""
    c = a.shape[1]
    taps = _ssim_taps(int(filter_size), float(sigma))
    stats = _separable(torch.cat([a, b, a * b, a * a + b * b], 1), taps, 0)
    mu_a, mu_b, e_ab, e_sq = stats.split(c, 1)
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    num0 = mu_a * mu_b * 2.0
    den0 = mu_a.square() + mu_b.square()
    luminance = (num0 + c1) / (den0 + c1)
    cs = (e_ab * 2.0 - num0 + c2) / (e_sq - den0 + c2)
    return (1.0 - (luminance * cs).mean(dim=(2, 3))) / 2.0
