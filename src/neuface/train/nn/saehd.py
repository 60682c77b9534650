"""The SAEHD autoencoder: DF (one inter, two decoders) or LIAE (inter_AB + inter_B, one decoder).

Parts are attributes named like DFL's files (`encoder`, `inter_AB`, ... -> `<name>_SAEHD_<part>.npy`).
All tensors are NCHW, BGR in [0,1]; every image and mask output is a sigmoid.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from neuface.train.archi import Archi, parse_archi
from neuface.train.nn.decoder import Decoder
from neuface.train.nn.encoder import Encoder
from neuface.train.nn.inter import Inter


@dataclass(frozen=True)
class SAEHDDims:
    """What sizes the networks: resolution, archi and the four dims options."""

    resolution: int
    archi: Archi
    ae_dims: int
    e_dims: int
    d_dims: int
    d_mask_dims: int


@dataclass
class SAEHDOutputs:
    """Training-path outputs (NCHW): reconstructions of src and dst, and optionally the swap."""

    pred_src_src: torch.Tensor
    pred_src_srcm: torch.Tensor
    pred_dst_dst: torch.Tensor
    pred_dst_dstm: torch.Tensor
    src_code: torch.Tensor  # decoder input codes (DF: inter output; LIAE: concatenated)
    dst_code: torch.Tensor
    pred_src_dst: torch.Tensor | None = None
    pred_src_dstm: torch.Tensor | None = None


class SAEHD(nn.Module):
    """DFL's SAEHD networks; `part_names` lists the weight files in DFL's order."""

    def __init__(self, dims: SAEHDDims):
        super().__init__()
        self.dims = dims
        a = dims.archi
        self.encoder = Encoder(3, dims.e_dims, a)
        enc_res = self.encoder.out_res(dims.resolution)
        enc_flat = self.encoder.out_ch * enc_res * enc_res
        lowest = dims.resolution // (32 if a.d else 16)
        if a.is_liae:
            self.inter_AB = Inter(enc_flat, dims.ae_dims, dims.ae_dims * 2, lowest, a)
            self.inter_B = Inter(enc_flat, dims.ae_dims, dims.ae_dims * 2, lowest, a)
            self.decoder = Decoder(dims.ae_dims * 4, dims.d_dims, dims.d_mask_dims, a, self.inter_AB.out_res)
            self.part_names: tuple[str, ...] = ("encoder", "inter_AB", "inter_B", "decoder")
        else:
            self.inter = Inter(enc_flat, dims.ae_dims, dims.ae_dims, lowest, a)
            self.decoder_src = Decoder(dims.ae_dims, dims.d_dims, dims.d_mask_dims, a, self.inter.out_res)
            self.decoder_dst = Decoder(dims.ae_dims, dims.d_dims, dims.d_mask_dims, a, self.inter.out_res)
            self.part_names = ("encoder", "inter", "decoder_src", "decoder_dst")

    @property
    def is_liae(self) -> bool:
        return self.dims.archi.is_liae

    @property
    def code_res(self) -> int:
        """Spatial size of the inter output (the decoder input, and DF's code-discriminator input)."""
        return (self.inter_AB if self.is_liae else self.inter).out_res

    def parts(self) -> Iterator[tuple[str, nn.Module]]:
        for name in self.part_names:
            yield name, getattr(self, name)

    def src_dst_codes(self, warped_src: torch.Tensor, warped_dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder codes for src and dst; both sides go through the shared encoder as one batch."""
        n = warped_src.shape[0]
        e = self.encoder(torch.cat([warped_src, warped_dst]))
        if self.is_liae:
            ab = self.inter_AB(e)
            ab_src, ab_dst = ab[:n], ab[n:]
            b_dst = self.inter_B(e[n:])
            return torch.cat([ab_src, ab_src], 1), torch.cat([b_dst, ab_dst], 1)
        code = self.inter(e)
        return code[:n], code[n:]

    def forward(self, warped_src: torch.Tensor, warped_dst: torch.Tensor, swap: bool = False) -> SAEHDOutputs:
        """The training graph: src and dst reconstructions (and the swap when asked)."""
        n = warped_src.shape[0]
        src_code, dst_code = self.src_dst_codes(warped_src, warped_dst)
        if self.is_liae:
            img, mask = self.decoder(torch.cat([src_code, dst_code]))
            out = SAEHDOutputs(img[:n], mask[:n], img[n:], mask[n:], src_code, dst_code)
            if swap:
                ab_dst = dst_code[:, dst_code.shape[1] // 2:]
                out.pred_src_dst, out.pred_src_dstm = self.decoder(torch.cat([ab_dst, ab_dst], 1))
            return out
        pss, pssm = self.decoder_src(src_code)
        pdd, pddm = self.decoder_dst(dst_code)
        out = SAEHDOutputs(pss, pssm, pdd, pddm, src_code, dst_code)
        if swap:
            out.pred_src_dst, out.pred_src_dstm = self.decoder_src(dst_code)
        return out

    def swap_code(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(swap code, dst code) of a dst face: what merge/export decode."""
        e = self.encoder(x)
        if self.is_liae:
            ab = self.inter_AB(e)
            return torch.cat([ab, ab], 1), torch.cat([self.inter_B(e), ab], 1)
        code = self.inter(e)
        return code, code

    def merge(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """DFL's AE_merge on a dst face: (pred_src_dst, pred_src_dstm, pred_dst_dstm)."""
        swap, dst = self.swap_code(x)
        if self.is_liae:
            img, mask = self.decoder(swap)
            dst_mask = self.decoder.forward_mask(dst)
        else:
            img, mask = self.decoder_src(swap)
            dst_mask = self.decoder_dst.forward_mask(dst)
        return img, mask, dst_mask


def build_saehd(resolution: int, archi: str | Archi, ae_dims: int, e_dims: int, d_dims: int, d_mask_dims: int,
                device: torch.device | str | None = None) -> SAEHD:
    """Build SAEHD from DFL's sizing options (already clamped, as stored in data.dat)."""
    a = archi if isinstance(archi, Archi) else parse_archi(archi)
    dims = SAEHDDims(int(resolution), a, int(ae_dims), int(e_dims), int(d_dims), int(d_mask_dims))
    if device is None:
        return SAEHD(dims)
    with torch.device(device):
        return SAEHD(dims)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
