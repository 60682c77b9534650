"""SAEHD decoder (dfl-models.md §2.5): code -> (BGR image, mask), both sigmoid, NCHW."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuface.train.archi import Archi
from neuface.train.nn.layers import Conv2d, ResidualBlock, Upscale, depth_to_space


class Decoder(nn.Module):
    """Image path: Upscale+Residual stages (3, or 4 with `t`), then a 1x1 head, or with `d` four heads
    (1x1, 3x3, 3x3, 3x3) shuffled DCR into a 2x larger image. Mask path: Upscales only, then 1x1.

    Attributes are created in DFL's order so the saved key order matches DFL's files.
    """

    def __init__(self, in_ch: int, d_ch: int, d_mask_ch: int, archi: Archi, in_res: int | None = None):
        super().__init__()
        self.archi = archi
        c = archi.c
        if archi.t:
            img_ch = [in_ch, d_ch * 8, d_ch * 8, d_ch * 4, d_ch * 2]
            mask_ch = [in_ch, d_mask_ch * 8, d_mask_ch * 8, d_mask_ch * 4, d_mask_ch * 2]
        else:
            img_ch = [in_ch, d_ch * 8, d_ch * 4, d_ch * 2]
            mask_ch = [in_ch, d_mask_ch * 8, d_mask_ch * 4, d_mask_ch * 2]
        n = len(img_ch) - 1

        def res_at(i: int) -> int | None:
            return None if in_res is None else in_res * 2**i

        for i in range(n):
            setattr(self, f"upscale{i}", Upscale(img_ch[i], img_ch[i + 1], cos_act=c, in_res=res_at(i)))
        for i in range(n):
            setattr(self, f"res{i}", ResidualBlock(img_ch[i + 1], cos_act=c))
        for i in range(n):
            setattr(self, f"upscalem{i}", Upscale(mask_ch[i], mask_ch[i + 1], cos_act=c, in_res=res_at(i)))
        self.out_conv = Conv2d(d_ch * 2, 3, 1)
        if archi.d:
            self.out_conv1 = Conv2d(d_ch * 2, 3, 3)
            self.out_conv2 = Conv2d(d_ch * 2, 3, 3)
            self.out_conv3 = Conv2d(d_ch * 2, 3, 3)
            setattr(self, f"upscalem{n}", Upscale(d_mask_ch * 2, d_mask_ch, cos_act=c, in_res=res_at(n)))
            self.out_convm = Conv2d(d_mask_ch, 1, 1)
        else:
            self.out_convm = Conv2d(d_mask_ch * 2, 1, 1)
        self.n_stages = n
        self.n_mask_stages = n + (1 if archi.d else 0)
        self.head_res = res_at(n)

    def forward_image(self, z: torch.Tensor) -> torch.Tensor:
        x = z
        for i in range(self.n_stages):
            x = getattr(self, f"res{i}")(getattr(self, f"upscale{i}")(x))
        if self.archi.d:
            # DFL's four heads (1x1, 3x3, 3x3, 3x3) as one 3x3 conv with 12 outputs: same math, one
            # oneDNN call instead of four slow 3-channel ones. Channel order = DFL's concat order.
            w = torch.cat([F.pad(self.out_conv.weight, (1, 1, 1, 1)), self.out_conv1.weight,
                           self.out_conv2.weight, self.out_conv3.weight], 0)
            b = torch.cat([self.out_conv.bias, self.out_conv1.bias, self.out_conv2.bias, self.out_conv3.bias])
            x = depth_to_space(F.conv2d(x, w, b, padding=1), 2, 12, self.head_res)
        else:
            x = self.out_conv(x)
        return torch.sigmoid(x)

    def forward_mask(self, z: torch.Tensor) -> torch.Tensor:
        m = z
        for i in range(self.n_mask_stages):
            m = getattr(self, f"upscalem{i}")(m)
        return torch.sigmoid(self.out_convm(m))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_image(z), self.forward_mask(z)
