"""DFL's leras layers in PyTorch, NCHW, with DFL's padding, init and channel orders.

Module attribute names are DFL's variable scopes (`conv1`, `downs.0` -> `downs_0`), so a torch
parameter name maps to a DFL weight key without a table (see `neuface.dfl.weights`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def depth_to_space(x: torch.Tensor, r: int = 2, channels: int | None = None, hw: int | None = None) -> torch.Tensor:
    """TensorFlow's DCR depth-to-space (what DFL uses), not torch's CRD PixelShuffle.

    out[b, k, h*r+i, w*r+j] = in[b, (i*r+j)*oc + k, h, w]: DFL weights drop in unchanged.
    With static `channels` (input channels) and square `hw`, no shape is read from `x`, so an ONNX
    export has no Shape/Gather nodes (the batch stays -1).
    """
    if channels is None or hw is None:
        _, channels, h, w = x.shape
    else:
        h = w = hw
    oc = channels // (r * r)
    return x.reshape(-1, r, r, oc, h, w).permute(0, 3, 4, 1, 5, 2).reshape(-1, oc, h * r, w * r)


def _exporting() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def pixel_norm(x: torch.Tensor, dim: int = -1, eps: float = 1e-6) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps), eps inside the root as in leras.

    Computed in float32 when training in fp16: its backward scales by 1/rms^3, which for the small
    activations of a young model (rms ~1e-2) exceeds fp16's range and turns every encoder gradient to inf.
    Exported graphs keep the input's precision."""
    if x.dtype == torch.float16 and not _exporting():
        xf = x.float()
        return (xf * torch.rsqrt(xf.square().mean(dim=dim, keepdim=True) + eps)).to(x.dtype)
    return x * torch.rsqrt(x.square().mean(dim=dim, keepdim=True) + eps)


def act(x: torch.Tensor, slope: float, cos_act: bool) -> torch.Tensor:
    """LeakyReLU(slope), or archi `-c`'s x*cos(x)."""
    return x * torch.cos(x) if cos_act else F.leaky_relu(x, slope)


class Conv2d(nn.Conv2d):
    """leras Conv2D: 'SAME' is symmetric zero padding ((k-1)*d+1)//2; Glorot-uniform kernel, zero bias."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: str | int = "same",
                 dilation: int = 1):
        if padding == "same":
            pad = ((kernel_size - 1) * dilation + 1) // 2
        elif padding == "valid":
            pad = 0
        else:
            pad = int(padding)
        super().__init__(in_ch, out_ch, kernel_size, stride=stride, padding=pad, dilation=dilation)

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        # oneDNN is slow for 1x1 convs with few outputs (SAEHD's mask head); a matmul is the same math.
        if self.kernel_size == (1, 1) and self.stride == (1, 1) and self.padding == (0, 0) and not _exporting():
            b, c, h, w = x.shape
            y = torch.matmul(self.weight.view(self.out_channels, c).to(x.dtype), x.reshape(b, c, h * w))
            return (y + self.bias.to(y.dtype).view(1, -1, 1)).view(b, self.out_channels, h, w)
        return super().forward(x)


class ConvTranspose2dSame(nn.ConvTranspose2d):
    """leras Conv2DTranspose with TF 'SAME': full transposed conv cropped to H*s from floor(max(k-s,0)/2).

    Torch's padding=1/output_padding=1 recipe is one pixel off for k3 s2; we crop explicitly instead.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 2):
        super().__init__(in_ch, out_ch, kernel_size, stride=stride, padding=0)
        self._crop = max(kernel_size - stride, 0) // 2

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        h, w = x.shape[-2] * self.stride[0], x.shape[-1] * self.stride[1]
        y = F.conv_transpose2d(x, self.weight, self.bias, self.stride)
        c = self._crop
        return y[..., c:c + h, c:c + w]


class Dense(nn.Linear):
    """leras Dense (y = x @ W + b); Glorot-uniform weight, zero bias."""

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight)
        nn.init.zeros_(self.bias)


class Downscale(nn.Module):
    """Conv k x k stride 2 -> LeakyReLU 0.1 (or x*cos x)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 5, cos_act: bool = False):
        super().__init__()
        self.conv1 = Conv2d(in_ch, out_ch, kernel_size, stride=2)
        self.cos_act = cos_act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return act(self.conv1(x), 0.1, self.cos_act)


class DownscaleBlock(nn.Module):
    """n Downscales; layer i outputs ch * min(2**i, 8) channels."""

    def __init__(self, in_ch: int, ch: int, n_downscales: int, kernel_size: int, cos_act: bool = False):
        super().__init__()
        layers = []
        last = in_ch
        for i in range(n_downscales):
            cur = ch * min(2**i, 8)
            layers.append(Downscale(last, cur, kernel_size, cos_act))
            last = cur
        self.downs = nn.ModuleList(layers)
        self.out_ch = last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down in self.downs:
            x = down(x)
        return x


class Upscale(nn.Module):
    """Conv k x k to 4*out -> LeakyReLU 0.1 (before the shuffle) -> DCR depth-to-space x2.

    `in_res` (the input's fixed spatial size) keeps shapes static for export.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, cos_act: bool = False,
                 in_res: int | None = None):
        super().__init__()
        self.conv1 = Conv2d(in_ch, out_ch * 4, kernel_size)
        self.cos_act = cos_act
        self.in_res = in_res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return depth_to_space(act(self.conv1(x), 0.1, self.cos_act), 2, self.conv1.out_channels, self.in_res)


class ResidualBlock(nn.Module):
    """y = act(conv1 x, 0.2); out = act(x + conv2 y, 0.2)."""

    def __init__(self, ch: int, kernel_size: int = 3, cos_act: bool = False):
        super().__init__()
        self.conv1 = Conv2d(ch, ch, kernel_size)
        self.conv2 = Conv2d(ch, ch, kernel_size)
        self.cos_act = cos_act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = act(self.conv1(x), 0.2, self.cos_act)
        return act(x + self.conv2(y), 0.2, self.cos_act)
