"""DFL's XSeg U-Net (`nn.XSeg(3, 32, 1)`) in PyTorch, layer for layer, so GenericXSeg weights run as-is.

Module attribute names equal DFL's scope names (`conv01.conv.weight` <-> `conv01/conv/weight:0`), which
makes the weight-file mapping (`neuface.dfl.weights`) a rename plus a layout transpose. The three
porting traps (dfl-models.md §1.3, §1.7) live here: TF-SAME transposed conv = padding 0 and drop the last
row/column; BlurPool pads (floor, ceil) of (f-1)/2; FRN uses |eps| with eps a learned parameter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

RESOLUTION = 256
BASE_CH = 32

_BINOMIAL = {1: [1.0], 2: [1.0, 1.0], 3: [1.0, 2.0, 1.0], 4: [1.0, 3.0, 3.0, 1.0], 5: [1.0, 4.0, 6.0, 4.0, 1.0],
             6: [1.0, 5.0, 10.0, 10.0, 5.0, 1.0], 7: [1.0, 6.0, 15.0, 20.0, 15.0, 6.0, 1.0]}


class FRNorm2D(nn.Module):
    """Filter response norm: x * rsqrt(mean_HW(x^2) + |eps|) * weight + bias, computed in fp32.

    fp32 even under autocast: the mean of squares of 256x256 maps loses too much in bf16/fp16.
    """

    def __init__(self, ch: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ch))
        self.bias = nn.Parameter(torch.zeros(ch))
        self.eps = nn.Parameter(torch.full((1,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        nu2 = x.square().mean(dim=(2, 3), keepdim=True)
        x = x * torch.rsqrt(nu2 + self.eps.abs())
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class TLU(nn.Module):
    """Thresholded linear unit: max(x, tau) with a learned per-channel tau."""

    def __init__(self, ch: int):
        super().__init__()
        self.tau = nn.Parameter(torch.zeros(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(x, self.tau.view(1, -1, 1, 1).to(x.dtype))


class BlurPool(nn.Module):
    """Anti-aliased stride-2 downsampling with a fixed binomial kernel (not a saved weight)."""

    def __init__(self, ch: int, filt_size: int):
        super().__init__()
        taps = torch.tensor(_BINOMIAL[filt_size], dtype=torch.float32)
        k = taps[:, None] * taps[None, :]
        k = k / k.sum()
        self.register_buffer("kernel", k.expand(ch, 1, filt_size, filt_size).contiguous(), persistent=False)
        self.pad = ((filt_size - 1) // 2, filt_size // 2)  # (floor, ceil) of (f-1)/2
        self.ch = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p0, p1 = self.pad
        x = F.pad(x, (p0, p1, p0, p1))
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=self.ch)


class ConvBlock(nn.Module):
    """3x3 conv (leras SAME = symmetric pad 1) -> FRN -> TLU."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.frn = FRNorm2D(out_ch)
        self.tlu = TLU(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tlu(self.frn(self.conv(x)))


class UpConvBlock(nn.Module):
    """3x3 stride-2 transposed conv with TF 'SAME' output (pad 0, keep [:2H, :2W]) -> FRN -> TLU."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_ch, out_ch, 3, stride=2, padding=0)
        self.frn = FRNorm2D(out_ch)
        self.tlu = TLU(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        x = self.conv(x)[:, :, : 2 * h, : 2 * w]
        return self.tlu(self.frn(x))


class XSeg(nn.Module):
    """The XSeg U-Net; `forward` returns logits (N,1,256,256) for BGR [0,1] input (N,3,256,256).

    Attribute assignment order equals DFL's `on_build`, so `state_dict()` lists weights in the order DFL
    writes them. `pretrain=True` zeroes the skip tensors as DFL's pretraining mode does.
    """

    def __init__(self, in_ch: int = 3, base_ch: int = BASE_CH, out_ch: int = 1, resolution: int = RESOLUTION):
        super().__init__()
        b, c8 = base_ch, 8 * base_ch
        self.resolution = resolution
        self.conv01, self.conv02 = ConvBlock(in_ch, b), ConvBlock(b, b)
        self.bp0 = BlurPool(b, 4)
        self.conv11, self.conv12 = ConvBlock(b, 2 * b), ConvBlock(2 * b, 2 * b)
        self.bp1 = BlurPool(2 * b, 3)
        self.conv21, self.conv22 = ConvBlock(2 * b, 4 * b), ConvBlock(4 * b, 4 * b)
        self.bp2 = BlurPool(4 * b, 2)
        self.conv31, self.conv32, self.conv33 = ConvBlock(4 * b, 8 * b), ConvBlock(c8, c8), ConvBlock(c8, c8)
        self.bp3 = BlurPool(8 * b, 2)
        self.conv41, self.conv42, self.conv43 = ConvBlock(c8, c8), ConvBlock(c8, c8), ConvBlock(c8, c8)
        self.bp4 = BlurPool(8 * b, 2)
        self.conv51, self.conv52, self.conv53 = ConvBlock(c8, c8), ConvBlock(c8, c8), ConvBlock(c8, c8)
        self.bp5 = BlurPool(8 * b, 2)

        self.bottleneck_hw = resolution // 64
        flat = 8 * b * self.bottleneck_hw * self.bottleneck_hw
        self.dense1 = nn.Linear(flat, 512)
        self.dense2 = nn.Linear(512, flat)

        self.up5 = UpConvBlock(8 * b, 4 * b)
        self.uconv53, self.uconv52, self.uconv51 = ConvBlock(12 * b, 8 * b), ConvBlock(c8, c8), ConvBlock(c8, c8)
        self.up4 = UpConvBlock(8 * b, 4 * b)
        self.uconv43, self.uconv42, self.uconv41 = ConvBlock(12 * b, 8 * b), ConvBlock(c8, c8), ConvBlock(c8, c8)
        self.up3 = UpConvBlock(8 * b, 4 * b)
        self.uconv33, self.uconv32, self.uconv31 = ConvBlock(12 * b, 8 * b), ConvBlock(c8, c8), ConvBlock(c8, c8)
        self.up2 = UpConvBlock(8 * b, 4 * b)
        self.uconv22, self.uconv21 = ConvBlock(8 * b, 4 * b), ConvBlock(4 * b, 4 * b)
        self.up1 = UpConvBlock(4 * b, 2 * b)
        self.uconv12, self.uconv11 = ConvBlock(4 * b, 2 * b), ConvBlock(2 * b, 2 * b)
        self.up0 = UpConvBlock(2 * b, b)
        self.uconv02, self.uconv01 = ConvBlock(2 * b, b), ConvBlock(b, b)
        self.out_conv = nn.Conv2d(b, out_ch, 3, padding=1)
        self.init_dfl()

    def init_dfl(self) -> None:
        """DFL's initialisation: Glorot-uniform kernels, zero biases, FRN weight 1 / eps 1e-6, TLU tau 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
                _glorot_uniform_(m)
                nn.init.zeros_(m.bias)
            elif isinstance(m, FRNorm2D):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
                nn.init.constant_(m.eps, 1e-6)
            elif isinstance(m, TLU):
                nn.init.zeros_(m.tau)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Encoder: the bottleneck input (after bp5) and the skips x0..x5 (taken before each BlurPool)."""
        x0 = self.conv02(self.conv01(x))
        x = self.bp0(x0)
        x1 = self.conv12(self.conv11(x))
        x = self.bp1(x1)
        x2 = self.conv22(self.conv21(x))
        x = self.bp2(x2)
        x3 = self.conv33(self.conv32(self.conv31(x)))
        x = self.bp3(x3)
        x4 = self.conv43(self.conv42(self.conv41(x)))
        x = self.bp4(x4)
        x5 = self.conv53(self.conv52(self.conv51(x)))
        x = self.bp5(x5)
        return x, [x0, x1, x2, x3, x4, x5]

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        """Flatten in (C,H,W) order, dense1, dense2, reshape back (no activations, as DFL)."""
        n, c, h, w = x.shape
        x = self.dense2(self.dense1(x.flatten(1)))
        return x.view(n, c, h, w)

    def decode(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x0, x1, x2, x3, x4, x5 = skips
        x = self.uconv51(self.uconv52(self.uconv53(torch.cat([self.up5(x), x5.to(x.dtype)], 1))))
        x = self.uconv41(self.uconv42(self.uconv43(torch.cat([self.up4(x), x4.to(x.dtype)], 1))))
        x = self.uconv31(self.uconv32(self.uconv33(torch.cat([self.up3(x), x3.to(x.dtype)], 1))))
        x = self.uconv21(self.uconv22(torch.cat([self.up2(x), x2.to(x.dtype)], 1)))
        x = self.uconv11(self.uconv12(torch.cat([self.up1(x), x1.to(x.dtype)], 1)))
        x = self.uconv01(self.uconv02(torch.cat([self.up0(x), x0.to(x.dtype)], 1)))
        return self.out_conv(x)

    def forward(self, x: torch.Tensor, pretrain: bool = False) -> torch.Tensor:
        x, skips = self.encode(x)
        if pretrain:
            skips = [torch.zeros_like(s) for s in skips]
        return self.decode(self.bottleneck(x), skips)


def _glorot_uniform_(m: nn.Module) -> None:
    """TF's glorot_uniform: U(±sqrt(6 / (fan_in + fan_out))), fans = k*k*in and k*k*out (symmetric in them)."""
    w = m.weight
    receptive = w[0, 0].numel() if w.dim() == 4 else 1
    limit = (6.0 / ((w.shape[0] + w.shape[1]) * receptive)) ** 0.5
    with torch.no_grad():
        w.uniform_(-limit, limit)
