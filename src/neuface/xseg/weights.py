"""DFL's XSeg model-folder files: `XSeg_256.npy` weights, `XSeg_256_opt.npy` RMSprop state, `XSeg_data.dat`.

Weight files are protocol-4 pickles of `{"conv01/conv/weight:0": ndarray, ...}` in DFL's layouts
(dfl-formats.md §8.2). We read them only through the restricted unpickler and strictly (a missing or
extra key, or a wrong shape, is an error naming it: DFL would silently re-initialise), and write them
with numpy-1 global names so DFL (numpy 1.19) loads what neuface trains.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuface.atomic import atomic_write_bytes
from neuface.errors import ModelFormatError
from neuface.safe_pickle import dumps_compat, safe_loads

WEIGHTS_NAME = "XSeg_256.npy"
OPT_NAME = "XSeg_256_opt.npy"
DATA_NAME = "XSeg_data.dat"
MODEL_SCOPE = "XSeg"  # DFL's variable scope; optimizer slot names embed it


def dfl_key(torch_name: str) -> str:
    """`conv01.conv.weight` -> `conv01/conv/weight:0` (DFL's key: scope path without the model scope)."""
    return torch_name.replace(".", "/") + ":0"


def _owner(net: nn.Module, torch_name: str) -> nn.Module:
    return net.get_submodule(torch_name.rsplit(".", 1)[0]) if "." in torch_name else net


def to_dfl_layout(module: nn.Module, param_name: str, t: torch.Tensor) -> np.ndarray:
    """A torch parameter as DFL stores it: conv (kh,kw,in,out), transposed conv (kh,kw,out,in), dense (in,out)."""
    a = t.detach().to("cpu", torch.float32).numpy()
    if param_name == "weight" and isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        a = a.transpose(2, 3, 1, 0)
    elif param_name == "weight" and isinstance(module, nn.Linear):
        a = a.T
    return np.ascontiguousarray(a, dtype=np.float32)


def from_dfl_layout(module: nn.Module, param_name: str, a: np.ndarray) -> np.ndarray:
    """Inverse of `to_dfl_layout`."""
    if param_name == "weight" and isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        a = a.transpose(3, 2, 0, 1)
    elif param_name == "weight" and isinstance(module, nn.Linear):
        a = a.T
    return np.ascontiguousarray(a, dtype=np.float32)


def dfl_shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    """Every DFL key the network expects, with its DFL-layout shape, in DFL's order."""
    out = {}
    for name, p in net.named_parameters():
        mod, pname = _owner(net, name), name.rsplit(".", 1)[-1]
        out[dfl_key(name)] = to_dfl_layout(mod, pname, p).shape
    return out


def state_to_dfl(net: nn.Module) -> dict[str, np.ndarray]:
    """The network's weights as DFL's dict (insertion order = DFL's attribute order)."""
    return {dfl_key(name): to_dfl_layout(_owner(net, name), name.rsplit(".", 1)[-1], p)
            for name, p in net.named_parameters()}


def load_dfl_state(net: nn.Module, weights: Mapping[str, Any], source: str) -> None:
    """Copy a DFL weight dict into `net`, strictly: missing/extra keys and shape mismatches name the key."""
    if not isinstance(weights, Mapping):
        raise ModelFormatError(f"{source}: not a DFL weight file (expected a dict, got {type(weights).__name__})")
    expected = dfl_shapes(net)
    missing = [k for k in expected if k not in weights]
    extra = [k for k in weights if k not in expected]
    if missing:
        raise ModelFormatError(f"{source}: missing weight {missing[0]!r}" + _more(missing))
    if extra:
        raise ModelFormatError(f"{source}: unexpected weight {extra[0]!r}" + _more(extra))
    params = dict(net.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            key = dfl_key(name)
            value = weights[key]
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                raise ModelFormatError(f"{source}: weight {key!r} is not a float array")
            if tuple(value.shape) != expected[key]:
                raise ModelFormatError(f"{source}: weight {key!r} has shape {tuple(value.shape)}, "
                                       f"expected {expected[key]}")
            if not np.isfinite(value).all():
                raise ModelFormatError(f"{source}: weight {key!r} contains NaN or inf")
            arr = from_dfl_layout(_owner(net, name), name.rsplit(".", 1)[-1], value)
            p.copy_(torch.from_numpy(arr))


def _more(keys: list[str]) -> str:
    return f" (and {len(keys) - 1} more)" if len(keys) > 1 else ""


def read_pickle(data: bytes, source: str) -> Any:
    """Unpickle a DFL model file through the restricted unpickler; errors name the file."""
    try:
        return safe_loads(data)
    except pickle.UnpicklingError as exc:
        raise ModelFormatError(f"{source}: unsafe or corrupt pickle: {exc}") from exc
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as exc:
        raise ModelFormatError(f"{source}: corrupt file: {exc}") from exc


def save_weights(net: nn.Module, path: Path) -> None:
    """Write `XSeg_256.npy` as DFL does (protocol-4 pickle, numpy.core names), atomically."""
    atomic_write_bytes(path, dumps_compat(state_to_dfl(net), protocol=4))


# --- optimizer state -------------------------------------------------------------------------------

def opt_key(torch_name: str) -> str:
    """RMSprop slot key: `acc_` + full variable name with ':' -> '_' (`acc_XSeg/conv01/conv/weight_0:0`)."""
    return f"acc_{MODEL_SCOPE}/{torch_name.replace('.', '/')}_0:0"


def opt_to_dfl(net: nn.Module, acc: Mapping[str, torch.Tensor], iters: int) -> dict[str, np.ndarray]:
    """DFL's `XSeg_256_opt.npy` dict: `iters:0` (int64 scalar), then one accumulator per parameter."""
    out: dict[str, np.ndarray] = {"iters:0": np.array(iters, dtype=np.int64)}
    for name, _ in net.named_parameters():
        out[opt_key(name)] = to_dfl_layout(_owner(net, name), name.rsplit(".", 1)[-1], acc[name])
    return out


def opt_from_dfl(net: nn.Module, data: Mapping[str, Any], source: str) -> tuple[dict[str, torch.Tensor], int]:
    """Accumulators (torch layout, keyed by parameter name) and the iteration count from an opt file."""
    if not isinstance(data, Mapping) or "iters:0" not in data:
        raise ModelFormatError(f"{source}: not a DFL RMSprop optimizer file (no 'iters:0')")
    acc: dict[str, torch.Tensor] = {}
    for name, p in net.named_parameters():
        key = opt_key(name)
        if key not in data:
            raise ModelFormatError(f"{source}: missing optimizer slot {key!r}")
        mod, pname = _owner(net, name), name.rsplit(".", 1)[-1]
        value = np.asarray(data[key], dtype=np.float32)
        arr = from_dfl_layout(mod, pname, value.reshape(to_dfl_layout(mod, pname, p).shape))
        acc[name] = torch.from_numpy(arr)
    return acc, int(np.asarray(data["iters:0"]))


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
    d = read_pickle(data, source)
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
        opts = parse_data_dat(self.data, self.data_name or DATA_NAME).get("options", {})
        ft = opts.get("face_type")
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
    for z in sorted(path.glob("*.zip")):
        if "xseg" in z.name.lower():
            found = _from_zip(z)
            if found is not None:
                return found
    return None


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
