"""Shared helpers for the SAEHD tests: DFL's LIAE-UD 64 reference (../shared/fixtures/models/saehd_liae_ud_64)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from neuface.dfl.weights import load_weight_file
from neuface.train.model import SAEHDModel, build_model
from neuface.train.options import SAEHDOptions
from neuface.train.step import SAEHDBatch

REF_NAME = "saehd_liae_ud_64"
BATCH_KEYS = ("warped_src", "target_src", "target_srcm", "target_srcm_em",
              "warped_dst", "target_dst", "target_dstm", "target_dstm_em")


def ref_dir(model_fixtures: Path) -> Path:
    return model_fixtures / REF_NAME


def ref_options() -> SAEHDOptions:
    """The reference's options (meta.json): liae-ud, res 64, dims 64/32/32/16, batch 4, DFL defaults."""
    return SAEHDOptions(resolution=64, archi="liae-ud", ae_dims=64, e_dims=32, d_dims=32, d_mask_dims=16,
                        batch_size=4).normalized()


def nchw(ref: Path, name: str) -> torch.Tensor:
    a = np.load(ref / f"{name}.npy")
    t = torch.from_numpy(a)
    return t.permute(0, 3, 1, 2).contiguous() if a.ndim == 4 else t


def ref_model(ref: Path, **option_changes: object) -> SAEHDModel:
    """A model holding the reference's DFL weights (fresh optimizer state, as at DFL's iteration 0)."""
    options = ref_options().replace(**option_changes) if option_changes else ref_options()
    model = build_model(options)
    for name, part in model.net.parts():
        load_weight_file(part, name, ref / "weights" / f"ref_SAEHD_{name}.npy")
    return model


def ref_batch(ref: Path) -> SAEHDBatch:
    return SAEHDBatch.from_nhwc({k: np.load(ref / f"in_{k}.npy") for k in BATCH_KEYS})
