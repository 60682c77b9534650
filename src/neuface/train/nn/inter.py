"""SAEHD inter (dfl-models.md §2.4): flat code -> dense bottleneck -> 4-D code for the decoder."""

from __future__ import annotations

import torch
from torch import nn

from neuface.train.archi import Archi
from neuface.train.nn.layers import Dense, Upscale


class Inter(nn.Module):
    """dense1 (in -> ae_ch), dense2 (-> lowest^2 * ae_out_ch), reshape (C,H,W), Upscale unless `t`."""

    def __init__(self, in_ch: int, ae_ch: int, ae_out_ch: int, lowest_res: int, archi: Archi):
        super().__init__()
        self.lowest_res = lowest_res
        self.ae_out_ch = ae_out_ch
        self.dense1 = Dense(in_ch, ae_ch)
        self.dense2 = Dense(ae_ch, lowest_res * lowest_res * ae_out_ch)
        self.has_upscale = not archi.t
        if self.has_upscale:
            self.upscale1 = Upscale(ae_out_ch, ae_out_ch, cos_act=archi.c, in_res=lowest_res)

    @property
    def out_res(self) -> int:
        return self.lowest_res * 2 if self.has_upscale else self.lowest_res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(x))
        x = x.reshape(-1, self.ae_out_ch, self.lowest_res, self.lowest_res)
        return self.upscale1(x) if self.has_upscale else x
