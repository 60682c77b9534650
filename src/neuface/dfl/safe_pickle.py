"""The one restricted unpickler for DFL files, and the numpy-1-compatible pickler that writes them.

DFL stores everything (JPEG metadata, faceset.pak tables, weights, data.dat) as pickles. Plain
`pickle.loads` would run any global a crafted file names, so every reader goes through `safe_loads`,
which resolves only an explicit allow-list. Writers go through `dumps_compat`, which records numpy
globals under `numpy.core` (numpy 1.19 inside DFL cannot import `numpy._core`) and our enums under
DFL's module paths.
"""

from __future__ import annotations

import builtins
import io
import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np

from neuface.errors import ForbiddenGlobalError

RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1, np.float32))[0]  # numpy's `_reconstruct`
MULTIARRAY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")  # where numpy 1 / numpy 2 keep it
_SCALAR = np.float32(0).__reduce__()[0]

# Every (module, name) a DFL file may legitimately reference, numpy 1 and numpy 2 spellings alike.
_NUMPY_GLOBALS: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
for _mod in MULTIARRAY_MODULES:
    _NUMPY_GLOBALS.update({(_mod, "_reconstruct"): RECONSTRUCT, (_mod, "scalar"): _SCALAR})

_SAFE_BUILTINS: dict[tuple[str, str], Any] = {
    ("builtins", n): getattr(builtins, n) for n in ("set", "frozenset", "bytearray", "complex", "slice")
}
# Protocol-2 pickles of bytes call _codecs.encode(str, "latin1"): harmless, and DFL readers accept protocol 2.
_SAFE_BUILTINS[("_codecs", "encode")] = __import__("codecs").encode
# Python 2 era pickles name the builtins module differently.
_SAFE_BUILTINS.update({("__builtin__", n): v for (_, n), v in list(_SAFE_BUILTINS.items())})

# Globals other modules register (e.g. DFL's SampleType/FaceType enums mapped onto ours).
_REGISTERED: dict[tuple[str, str], Any] = {}
# Reverse map used when writing: python object -> (module, name) to record in the pickle.
_WRITE_ALIASES: dict[int, tuple[str, str]] = {}


def register_global(module: str, name: str, obj: Any) -> None:
    """Allow `module.name` in DFL pickles, resolving to `obj`, and write `obj` under that name."""
    _REGISTERED[(module, name)] = obj
    _WRITE_ALIASES[id(obj)] = (module, name)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals and raises ForbiddenGlobalError otherwise."""

    def __init__(self, file: io.BufferedIOBase, extra: Mapping[tuple[str, str], Any] | None = None):
        super().__init__(file, encoding="latin1")
        self._extra = dict(extra or {})

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        for table in (self._extra, _REGISTERED, _NUMPY_GLOBALS, _SAFE_BUILTINS):
            if key in table:
                return table[key]
        raise ForbiddenGlobalError(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_loads(data: bytes | bytearray | memoryview,
               extra: Mapping[tuple[str, str], Any] | None = None) -> Any:
    """Unpickle `data` allowing only numpy reconstruction globals, safe builtins and registered names.

    Raises ForbiddenGlobalError (a pickle.UnpicklingError) naming the offending global; callers wrap
    it into a format error that names the file.
    """
    return RestrictedUnpickler(io.BytesIO(bytes(data)), extra).load()


class CompatPickler(pickle._Pickler):  # type: ignore[misc,name-defined]
    """Pure-Python pickler that writes numpy globals as numpy 1 names and our enums as DFL's (faceset.pak
    subclasses it to speed up its sample table)."""

    def save_global(self, obj: Any, name: str | None = None) -> None:  # noqa: D401
        alias = _WRITE_ALIASES.get(id(obj))
        if alias is None:
            module = getattr(obj, "__module__", None) or pickle.whichmodule(obj, name)
            qual = name or getattr(obj, "__qualname__", None) or obj.__name__
            if module.startswith("numpy._core"):
                module = "numpy.core" + module[len("numpy._core"):]
            elif module.startswith("numpy.") and qual in ("ndarray", "dtype"):
                module = "numpy"
            alias = (module, qual)
        module, qual = alias
        if self.proto >= 4:
            self.save(module)
            self.save(qual)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + module.encode("utf-8") + b"\n" + qual.encode("utf-8") + b"\n")
        self.memoize(obj)


def dumps_compat(obj: Any, protocol: int = 4) -> bytes:
    """Pickle `obj` so DFL (Python 3.6, numpy 1.19) can read it: protocol <= 4, numpy.core names."""
    if not 2 <= protocol <= 4:
        raise ValueError(f"DFL reads pickle protocols 2-4, not {protocol}")
    buf = io.BytesIO()
    CompatPickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()


def pickle_protocol(data: bytes) -> int:
    """The protocol a pickle was written with (2 when the PROTO opcode is absent)."""
    return data[1] if len(data) >= 2 and data[0] == 0x80 else 2
