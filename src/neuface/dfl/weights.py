"""DFL weight files (`*.npy`: protocol-4 pickles of `{key: float32 ndarray}`) and the torch <-> DFL mapping.

One converter for every DFL network neuface runs: SAEHD's parts, XSeg, the GAN and true-face
discriminators, and their optimizer-state files (`*_opt.npy`, same format).

- Keys are DFL's variable names without the model scope, with `:0`. Our module attribute names are DFL's
  scopes, so the key is derived from the torch name: `down1.downs.0.conv1.weight` ->
  `down1/downs_0/conv1/weight:0` (list items become `<attr>_<i>`), `conv01.conv.weight` -> `conv01/conv/weight:0`.
- Optimizer slots add the scope: `<slot>_<scope>/<var>_0:0` (`acc_XSeg/conv01/conv/weight_0:0`).
- Layouts: conv (kh,kw,in,out), transposed conv (kh,kw,out,in), dense (in,out); everything else as torch.

Reading goes through the restricted unpickler and is strict: a missing or unexpected key, a wrong shape, a
non-float or non-finite weight is a ModelFormatError naming the file and the key (DFL would silently
re-initialise). Writing records numpy globals under numpy-1 names, so DFL (numpy 1.19) loads what neuface trains.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuface.dfl.safe_pickle import dumps_compat, safe_loads
from neuface.errors import ModelFormatError

WEIGHTS_PROTOCOL = 4
_CORRUPT = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, RecursionError)


def dfl_key(torch_name: str) -> str:
    """`down1.downs.0.conv1.weight` -> `down1/downs_0/conv1/weight:0` (list items become `<attr>_<i>`)."""
    out: list[str] = []
    for seg in torch_name.split("."):
        if seg.isdigit() and out:
            out[-1] = f"{out[-1]}_{seg}"
        else:
            out.append(seg)
    return "/".join(out) + ":0"


def slot_key(prefix: str, scope: str, key: str) -> str:
    """Optimizer slot key: `ms_` + full variable name with ':' -> '_' + `:0` (`ms_encoder/.../weight_0:0`)."""
    return f"{prefix}_{scope}/{key[:-2]}_0:0"


def owner_module(net: nn.Module, torch_name: str) -> nn.Module:
    """The module holding parameter `torch_name` of `net`."""
    return net.get_submodule(torch_name.rsplit(".", 1)[0]) if "." in torch_name else net


def param_layout(module: nn.Module, param_name: str) -> str:
    """How DFL stores `module.<param_name>`: "conv", "dense" or "plain" (as torch)."""
    if param_name == "weight" and isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        return "conv"
    if param_name == "weight" and isinstance(module, nn.Linear):
        return "dense"
    return "plain"


# Axis order of DFL's layout in torch's: conv (kh,kw,in,out) from (out,in,kh,kw), dense (in,out) from (out,in).
_DFL_AXES = {"conv": (2, 3, 1, 0), "dense": (1, 0)}


def _to_dfl(t: torch.Tensor, layout: str) -> np.ndarray:
    a = t.detach().to("cpu", torch.float32).numpy()
    if layout in _DFL_AXES:
        a = a.transpose(_DFL_AXES[layout])
    return np.ascontiguousarray(a, dtype=np.float32)


def to_dfl_layout(module: nn.Module, param_name: str, t: torch.Tensor) -> np.ndarray:
    """A tensor shaped like `module.<param_name>` as DFL stores it (contiguous float32)."""
    return _to_dfl(t, param_layout(module, param_name))


@dataclass(frozen=True)
class DflVar:
    """One torch parameter seen as a DFL variable: its key, scope (model name) and layout."""

    scope: str
    key: str
    param: nn.Parameter
    layout: str  # "conv" | "dense" | "plain"

    def to_dfl(self, t: torch.Tensor | None = None) -> np.ndarray:
        """`t` (default: the parameter) in DFL's layout as a contiguous float32 array."""
        return _to_dfl(self.param if t is None else t, self.layout)

    def from_dfl(self, a: np.ndarray) -> torch.Tensor:
        """A DFL-layout array as a tensor shaped like the parameter (on its device)."""
        a = np.asarray(a, dtype=np.float32)
        if self.layout in _DFL_AXES:
            a = a.transpose(np.argsort(_DFL_AXES[self.layout]))
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.param.device)

    @property
    def dfl_shape(self) -> tuple[int, ...]:
        s = tuple(self.param.shape)
        return tuple(s[i] for i in _DFL_AXES[self.layout]) if self.layout in _DFL_AXES else s


def dfl_variables(module: nn.Module, scope: str) -> list[DflVar]:
    """Every parameter of `module` as a DflVar, in module order (= DFL's attribute order)."""
    return [DflVar(scope, dfl_key(name), p, param_layout(owner_module(module, name), name.rsplit(".", 1)[-1]))
            for name, p in module.named_parameters()]


# ---- files ------------------------------------------------------------------------------------------

def read_pickle_file(path: Path, what: str = "weights") -> Any:
    """Load a DFL pickle through the restricted unpickler; any failure names the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read {what}: {exc.strerror}") from exc
    return read_pickle_bytes(data, path, what)


def read_pickle_bytes(data: bytes, source: Path | str, what: str = "weights") -> Any:
    """Unpickle a DFL file's bytes (read from disk or a zip member) through the restricted unpickler."""
    try:
        return safe_loads(data)
    except _CORRUPT as exc:
        raise ModelFormatError(f"{source}: not a valid DFL {what} file: {exc}") from exc


def check_weight_dict(d: Any, source: Path | str) -> dict[str, np.ndarray]:
    """`d` if it is a DFL weight dict (string keys, array values), else a ModelFormatError naming `source`."""
    if not isinstance(d, dict) or not all(isinstance(k, str) for k in d):
        raise ModelFormatError(f"{source}: not a DFL weight file (expected a dict of named arrays)")
    for k, v in d.items():
        if not isinstance(v, np.ndarray | np.generic):
            raise ModelFormatError(f"{source}: entry {k!r} is {type(v).__name__}, not an array")
    return d


def read_weight_file(path: Path) -> dict[str, np.ndarray]:
    """`{key: ndarray}` from a DFL weight file (restricted unpickling; anything else is refused)."""
    return check_weight_dict(read_pickle_file(path), path)


def encode_weight_dict(d: Mapping[str, np.ndarray]) -> bytes:
    """Pickle bytes DFL (numpy 1.19) loads: protocol 4, `numpy.core` globals."""
    return dumps_compat(dict(d), protocol=WEIGHTS_PROTOCOL)


# ---- torch <-> DFL ----------------------------------------------------------------------------------

def module_to_dfl(module: nn.Module, scope: str) -> dict[str, np.ndarray]:
    """A module's weights as DFL's `{key: array}` (float32, DFL layouts, DFL key order)."""
    return {v.key: v.to_dfl() for v in dfl_variables(module, scope)}


def check_keys(expected: Iterable[str], found: Mapping[str, Any], source: Path | str, noun: str = "weight") -> None:
    """Strict key match; the error names the first missing and the first unexpected key."""
    exp = list(expected)
    known = set(exp)
    missing = [k for k in exp if k not in found]
    extra = [k for k in found if k not in known]
    parts = [f"{label} {noun} {keys[0]!r}" + (f" (and {len(keys) - 1} more)" if len(keys) > 1 else "")
             for label, keys in (("missing", missing), ("unexpected", extra)) if keys]
    if parts:
        raise ModelFormatError(f"{source}: does not match the model: {'; '.join(parts)}")


def checked_array(key: str, value: Any, shape: tuple[int, ...], source: Path | str, noun: str = "weight") -> np.ndarray:
    """`value` if it is a finite float array of `shape`, else a ModelFormatError naming `key`."""
    if not isinstance(value, np.ndarray | np.generic) or np.asarray(value).dtype.kind != "f":
        raise ModelFormatError(f"{source}: {noun} {key!r} is not a float array")
    a = np.asarray(value)
    if tuple(a.shape) != shape:
        raise ModelFormatError(f"{source}: {noun} {key!r} has shape {tuple(a.shape)}, expected {shape}")
    if not np.isfinite(a).all():
        raise ModelFormatError(f"{source}: {noun} {key!r} contains NaN or infinite values")
    return a


def load_dfl_into(module: nn.Module, scope: str, d: Mapping[str, Any], source: Path | str) -> None:
    """Copy DFL arrays into the module's parameters; strict keys, types and shapes."""
    if not isinstance(d, Mapping):
        raise ModelFormatError(f"{source}: not a DFL weight file (expected a dict, got {type(d).__name__})")
    variables = dfl_variables(module, scope)
    check_keys([v.key for v in variables], d, source)
    arrays = [checked_array(v.key, d[v.key], v.dfl_shape, source) for v in variables]
    with torch.no_grad():
        for v, a in zip(variables, arrays, strict=True):
            v.param.copy_(v.from_dfl(a))


def load_weight_file(module: nn.Module, scope: str, path: Path) -> None:
    """Load `path` (a DFL weight file) into `module` strictly."""
    load_dfl_into(module, scope, read_weight_file(path), path)
