"""SAEHD's discriminators (dfl-models.md §5): the GAN's UNet patch discriminator and DF's true-face
code discriminator. Both return raw logits (no sigmoid)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuface.train.nn.layers import Conv2d, ConvTranspose2dSame


def unet_patch_layers(patch_size: int, max_layers: int = 9) -> list[tuple[int, int]]:
    """DFL's `find_archi`: the fewest (k3, stride) layers whose receptive field is closest to patch_size.

    Layer 0 is always stride 2. Per receptive field keep the pattern with the fewest layers, then the
    larger total stride (first found wins further ties); pick the field closest to patch_size
    (ties -> the smaller field).
    """
    best: dict[int, tuple[int, int, list[tuple[int, int]]]] = {}  # rf -> (n_layers, total stride, layers)
    for n in range(1, max_layers + 1):
        for mask in range(2 ** (n - 1) - 1, -1, -1):
            strides = [2] + [2 if mask & (1 << i) else 1 for i in range(n - 1)]
            rf, prod = 3, 1
            for i in range(1, n):
                prod *= strides[i - 1]
                rf += 2 * prod
            total = 1
            for s in strides:
                total *= s
            prev = best.get(rf)
            if prev is None or n < prev[0] or (n == prev[0] and total > prev[1]):
                best[rf] = (n, total, [(3, s) for s in strides])
    rf = min(sorted(best), key=lambda r: abs(r - patch_size))
    return best[rf][2]


class UNetPatchDiscriminator(nn.Module):
    """U-Net patch discriminator; forward returns (center logits at res/prod(strides), full-res logits)."""

    def __init__(self, patch_size: int, in_ch: int = 3, base_ch: int = 16):
        super().__init__()
        layers = unet_patch_layers(patch_size)
        self.layers = layers
        self.patch_size, self.base_ch = int(patch_size), int(base_ch)
        level = {-1: base_ch}
        for i in range(len(layers)):
            level[i] = min(base_ch * 2 ** (i + 1), 512)
        last = len(layers) - 1
        self.convs = nn.ModuleList(Conv2d(level[i - 1], level[i], k, stride=s) for i, (k, s) in enumerate(layers))
        ups = []
        for i in reversed(range(len(layers))):
            k, s = layers[i]
            in_ch_up = level[i] * (1 if i == last else 2)
            ups.append(ConvTranspose2dSame(in_ch_up, level[i - 1], k, s))
        self.upconvs = nn.ModuleList(ups)
        self.in_conv = Conv2d(in_ch, level[-1], 1, padding="valid")
        self.out_conv = Conv2d(level[-1] * 2, 1, 1, padding="valid")
        self.center_out = Conv2d(level[last], 1, 1, padding="valid")
        self.center_conv = Conv2d(level[last], level[last], 1, padding="valid")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.leaky_relu(self.in_conv(x), 0.2)
        skips = []
        for conv in self.convs:
            skips.append(x)
            x = F.leaky_relu(conv(x), 0.2)
        center = self.center_out(x)
        x = F.leaky_relu(self.center_conv(x), 0.2)
        for upconv, skip in zip(self.upconvs, reversed(skips), strict=True):
            x = torch.cat([skip, F.leaky_relu(upconv(x), 0.2)], 1)
        return center, self.out_conv(x)


class CodeDiscriminator(nn.Module):
    """DF true-face discriminator on the inter code: 1 + code_res//8 stride-2 convs (k4 then k3),
    LeakyReLU 0.1, 1x1 logit map. leras SAME pads k4 by 2, so each k4 output is one pixel larger."""

    def __init__(self, in_ch: int, code_res: int, ch: int = 256):
        super().__init__()
        convs = []
        prev = in_ch
        for i in range(1 + code_res // 8):
            cur = ch * min(2**i, 8)
            convs.append(Conv2d(prev, cur, 4 if i == 0 else 3, stride=2))
            prev = cur
        self.convs = nn.ModuleList(convs)
        self.out_conv = Conv2d(prev, 1, 1, padding="valid")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
        return self.out_conv(x)
