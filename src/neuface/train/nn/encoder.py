"""SAEHD encoder (dfl-models.md §2.3): BGR [0,1] NCHW image -> flat code in (C,H,W) order."""

from __future__ import annotations

import torch
from torch import nn

from neuface.train.archi import Archi
from neuface.train.nn.layers import Downscale, DownscaleBlock, ResidualBlock, pixel_norm


class Encoder(nn.Module):
    """Without `t`: 4 stride-2 convs (e, 2e, 4e, 8e) -> res/16. With `t`: 5 downscales and 2 residual
    blocks -> res/32. `u` pixel-normalises the flattened code."""

    def __init__(self, in_ch: int, e_ch: int, archi: Archi):
        super().__init__()
        self.archi = archi
        c = archi.c
        if archi.t:
            self.down1 = Downscale(in_ch, e_ch, 5, c)
            self.res1 = ResidualBlock(e_ch, cos_act=c)
            self.down2 = Downscale(e_ch, e_ch * 2, 5, c)
            self.down3 = Downscale(e_ch * 2, e_ch * 4, 5, c)
            self.down4 = Downscale(e_ch * 4, e_ch * 8, 5, c)
            self.down5 = Downscale(e_ch * 8, e_ch * 8, 5, c)
            self.res5 = ResidualBlock(e_ch * 8, cos_act=c)
        else:
            self.down1 = DownscaleBlock(in_ch, e_ch, 4, 5, c)
        self.out_ch = e_ch * 8

    def out_res(self, resolution: int) -> int:
        return resolution // (32 if self.archi.t else 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.archi.t:
            x = self.res1(self.down1(x))
            x = self.res5(self.down5(self.down4(self.down3(self.down2(x)))))
        else:
            x = self.down1(x)
        x = x.flatten(1)
        return pixel_norm(x, -1) if self.archi.u else x
