"""DFL weight files (`<name>_SAEHD_<part>.npy`): protocol-4 pickles of `{key: float32 ndarray}`.

Keys are DFL's variable names without the model scope, with `:0` (`down1/downs_0/conv1/weight:0`);
our module attribute names are DFL's scopes, so the key is derived from the torch name
(`down1.downs.0.conv1.weight`). Layouts: conv (kh,kw,in,out), transposed conv (kh,kw,out,in), dense
(in,out). Reading goes through the restricted unpickler and is strict: a missing or unexpected key, or
a wrong shape, is a ModelFormatError naming the file and the key (DFL would silently re-initialise).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neuface.errors import ModelFormatError
from neuface.safe_pickle import dumps_compat, safe_loads

WEIGHTS_PROTOCOL = 4


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


@dataclass(frozen=True)
class DflVar:
    """One torch parameter seen as a DFL variable: its key, scope (model name) and layout."""

    scope: str
    key: str
    param: nn.Parameter
    layout: str  # "conv" | "dense" | "plain"

    def to_dfl(self, t: torch.Tensor | None = None) -> np.ndarray:
        """`t` (default: the parameter) in DFL's layout as a contiguous float32 array."""
        a = (self.param if t is None else t).detach().to("cpu", torch.float32).numpy()
        if self.layout == "conv":
            a = a.transpose(2, 3, 1, 0)
        elif self.layout == "dense":
            a = a.T
        return np.ascontiguousarray(a, dtype=np.float32)

    def from_dfl(self, a: np.ndarray) -> torch.Tensor:
        """A DFL-layout array as a tensor shaped like the parameter (on its device)."""
        a = np.asarray(a, dtype=np.float32)
        if self.layout == "conv":
            a = a.transpose(3, 2, 0, 1)
        elif self.layout == "dense":
            a = a.T
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.param.device)

    @property
    def dfl_shape(self) -> tuple[int, ...]:
        s = tuple(self.param.shape)
        if self.layout == "conv":
            return (s[2], s[3], s[1], s[0])
        if self.layout == "dense":
            return (s[1], s[0])
        return s


def dfl_variables(module: nn.Module, scope: str) -> list[DflVar]:
    """Every parameter of `module` as a DflVar, in module order (= DFL's attribute order)."""
    out: list[DflVar] = []
    for mod_name, mod in module.named_modules():
        for p_name, p in mod.named_parameters(recurse=False):
            layout = "plain"
            if p_name == "weight" and isinstance(mod, nn.Conv2d | nn.ConvTranspose2d):
                layout = "conv"
            elif p_name == "weight" and isinstance(mod, nn.Linear):
                layout = "dense"
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            out.append(DflVar(scope, dfl_key(full), p, layout))
    return out


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
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ModelFormatError(f"{source}: not a valid DFL {what} file: {exc}") from exc


def read_weight_file(path: Path) -> dict[str, np.ndarray]:
    """`{key: ndarray}` from a DFL weight file (restricted unpickling; anything else is refused)."""
    return check_weight_dict(read_pickle_file(path), path)


def check_weight_dict(d: Any, source: Path | str) -> dict[str, np.ndarray]:
    """`d` if it is a DFL weight dict (string keys, array values), else a ModelFormatError naming `source`."""
    if not isinstance(d, dict) or not all(isinstance(k, str) for k in d):
        raise ModelFormatError(f"{source}: not a DFL weight file (expected a dict of named arrays)")
    for k, v in d.items():
        if not isinstance(v, np.ndarray | np.generic):
            raise ModelFormatError(f"{source}: entry {k!r} is {type(v).__name__}, not an array")
    return d


def encode_weight_dict(d: Mapping[str, np.ndarray]) -> bytes:
    """Pickle bytes DFL (numpy 1.19) loads: protocol 4, `numpy.core` globals."""
    return dumps_compat(dict(d), protocol=WEIGHTS_PROTOCOL)


def module_to_dfl(module: nn.Module, scope: str) -> dict[str, np.ndarray]:
    """A module's weights as DFL's `{key: array}` (float32, DFL layouts, DFL key order)."""
    return {v.key: v.to_dfl() for v in dfl_variables(module, scope)}


def check_keys(expected: Iterator[str] | list[str], found: Mapping[str, Any], source: Path | str) -> None:
    """Strict key match; the error names the first missing and unexpected keys."""
    exp = list(expected)
    missing = [k for k in exp if k not in found]
    extra = [k for k in found if k not in set(exp)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} key(s), first {missing[0]!r}")
        if extra:
            parts.append(f"unexpected {len(extra)} key(s), first {extra[0]!r}")
        raise ModelFormatError(f"{source}: weights do not match the model ({'; '.join(parts)})")


def load_dfl_into(module: nn.Module, scope: str, d: Mapping[str, np.ndarray], source: Path | str) -> None:
    """Copy DFL arrays into the module's parameters; strict keys and shapes."""
    variables = dfl_variables(module, scope)
    check_keys([v.key for v in variables], d, source)
    with torch.no_grad():
        for v in variables:
            a = np.asarray(d[v.key])
            if tuple(a.shape) != v.dfl_shape:
                raise ModelFormatError(f"{source}: {v.key} has shape {tuple(a.shape)}, the model needs {v.dfl_shape}")
            if not np.all(np.isfinite(a)):
                raise ModelFormatError(f"{source}: {v.key} contains NaN or infinite values")
            v.param.copy_(v.from_dfl(a))


def load_weight_file(module: nn.Module, scope: str, path: Path) -> None:
    """Load `path` (a DFL weight file) into `module` strictly."""
    load_dfl_into(module, scope, read_weight_file(path), path)
