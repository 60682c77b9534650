"""DFL's XSeg model-folder files: `XSeg_256.npy` weights, `XSeg_256_opt.npy` RMSprop state, `XSeg_data.dat`.

What is XSeg's own: the file names, the variable scope (`XSeg`, in optimizer slot names), Model_XSeg's
optimizer settings, data.dat's content and finding a model in a folder or a zip (GenericXSeg.zip). Reading
and writing the weight files is the DFL core's converter (`neuface.dfl.weights`: restricted unpickler,
strict keys and shapes, numpy-1 global names so DFL loads what neuface trains).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from neuface.atomic import atomic_write_bytes
from neuface.dfl.optim import RMSprop
from neuface.dfl.safe_pickle import dumps_compat
from neuface.dfl.weights import (
    dfl_key,
    dfl_variables,
    encode_weight_dict,
    load_dfl_into,
    module_to_dfl,
    read_pickle_bytes,
    slot_key,
)
from neuface.errors import ModelFormatError

WEIGHTS_NAME = "XSeg_256.npy"
OPT_NAME = "XSeg_256_opt.npy"
DATA_NAME = "XSeg_data.dat"
MODEL_SCOPE = "XSeg"  # DFL's variable scope; optimizer slot names embed it


def state_to_dfl(net: nn.Module) -> dict[str, np.ndarray]:
    """The network's weights as DFL's dict (insertion order = DFL's attribute order)."""
    return module_to_dfl(net, MODEL_SCOPE)


def load_dfl_state(net: nn.Module, weights: Mapping[str, Any], source: str) -> None:
    """Copy a DFL weight dict into `net`, strictly: missing/extra keys and shape mismatches name the key."""
    load_dfl_into(net, MODEL_SCOPE, weights, source)


def save_weights(net: nn.Module, path: Path) -> None:
    """Write `XSeg_256.npy` as DFL does (protocol-4 pickle, numpy.core names), atomically."""
    atomic_write_bytes(path, encode_weight_dict(state_to_dfl(net)))


def opt_key(torch_name: str) -> str:
    """RMSprop slot key of a parameter: `acc_XSeg/conv01/conv/weight_0:0`."""
    return slot_key("acc", MODEL_SCOPE, dfl_key(torch_name))


class XSegRMSprop(RMSprop):
    """DFL's Model_XSeg optimizer: leras RMSprop, lr 1e-4, rho 0.9, lr_dropout 0.3 (keep probability), eager.

    Its state is `XSeg_256_opt.npy` (`state_to_dfl()` / `load_dfl(d, source)`); torch's GradScaler steps it.
    """

    def __init__(self, net: nn.Module, lr: float = 1e-4, lr_dropout: float = 0.3):
        super().__init__(dfl_variables(net, MODEL_SCOPE), MODEL_SCOPE, lr=lr, lr_dropout=lr_dropout, fused=False)

    @property
    def iterations(self) -> int:
        """Steps taken (DFL's `iters:0`)."""
        return self.iters


# --- data.dat --------------------------------------------------------------------------------------

def make_data_dat(iteration: int, options: Mapping[str, Any], loss_history: list[list[float]],
                  extra: Mapping[str, Any] | None = None) -> bytes:
    """`XSeg_data.dat` as DFL's ModelBase writes it. No preview sample: DFL makes a new one when it is None.

    `extra` (plain Python values) goes under the key `neuface`, which DFL never reads.
    """
    data: dict[str, Any] = {
        "iter": int(iteration),
        "options": dict(options),
        "loss_history": [[float(v) for v in row] for row in loss_history],
        "sample_for_preview": None,
        "choosed_gpu_indexes": None,
    }
    if extra:
        data["neuface"] = dict(extra)
    return dumps_compat(data, protocol=3)


def parse_data_dat(data: bytes, source: str) -> dict[str, Any]:
    d = read_pickle_bytes(data, source, "data.dat")
    if not isinstance(d, dict) or not isinstance(d.get("options", {}), dict):
        raise ModelFormatError(f"{source}: not a DFL model data.dat (expected a dict with 'options')")
    return d


# --- finding a model -------------------------------------------------------------------------------

@dataclass
class XSegFiles:
    """The bytes of an XSeg model's files, from a folder or a zip (GenericXSeg.zip)."""

    origin: str  # for messages: the folder or zip
    weights: bytes
    weights_name: str
    data: bytes | None = None
    data_name: str | None = None

    def face_type(self) -> str | None:
        """`options['face_type']` of XSeg_data.dat as a DFL short/long name, or None without one."""
        if self.data is None:
            return None
        ft = parse_data_dat(self.data, self.data_name or DATA_NAME).get("options", {}).get("face_type")
        return str(ft) if ft is not None else None


def _from_zip(path: Path) -> XSegFiles | None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelFormatError(f"{path}: not a readable zip: {exc}") from exc
    with zf:
        by_base = {Path(n).name.lower(): n for n in zf.namelist() if not n.endswith("/")}
        wname = by_base.get(WEIGHTS_NAME.lower())
        if wname is None:
            return None
        dname = by_base.get(DATA_NAME.lower())
        return XSegFiles(origin=str(path), weights=zf.read(wname), weights_name=f"{path}:{wname}",
                         data=zf.read(dname) if dname else None,
                         data_name=f"{path}:{dname}" if dname else None)


def _from_dir(path: Path) -> XSegFiles | None:
    w = path / WEIGHTS_NAME
    if w.is_file():
        d = path / DATA_NAME
        return XSegFiles(origin=str(path), weights=w.read_bytes(), weights_name=str(w),
                         data=d.read_bytes() if d.is_file() else None, data_name=str(d) if d.is_file() else None)
    in_zips = (_from_zip(z) for z in sorted(path.glob("*.zip")) if "xseg" in z.name.lower())
    return next((found for found in in_zips if found is not None), None)


def find_xseg_files(candidates: list[Path]) -> XSegFiles | None:
    """The first XSeg model among `candidates` (folders holding XSeg_256.npy or a *XSeg*.zip, or zips)."""
    for c in candidates:
        if c.is_file() and c.suffix.lower() == ".zip":
            found = _from_zip(c)
        elif c.is_dir():
            found = _from_dir(c)
        else:
            found = None
        if found is not None:
            return found
    return None
