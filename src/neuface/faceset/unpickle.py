"""Loading DFL metadata pickles: the shared restricted unpickler plus an allocation guard.

Any failure (forbidden global, truncated stream, bad numpy state) becomes one FacesetFormatError
naming the file; the guard stops a crafted pickle from asking numpy for a huge array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuface.dfl.safe_pickle import MULTIARRAY_MODULES, RECONSTRUCT, safe_loads
from neuface.errors import FacesetFormatError, ForbiddenGlobalError

# DFL's arrays are tiny (landmarks, masks, matrices); 64 M elements is far above any real one.
MAX_ARRAY_ELEMENTS = 1 << 26


def _guarded_reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's `_reconstruct`, refusing non-ndarray classes and absurd shapes."""
    if cls is not np.ndarray:
        raise ValueError("array reconstruction of a class other than numpy.ndarray")
    dims = shape if isinstance(shape, tuple) else (shape,)
    total = 1
    for d in dims:
        if not isinstance(d, int) or d < 0:
            raise ValueError("bad array shape")
        total *= d
        if total > MAX_ARRAY_ELEMENTS:
            raise ValueError("array too large")
    return RECONSTRUCT(cls, shape, dtype)


_GUARDS = {(mod, "_reconstruct"): _guarded_reconstruct for mod in MULTIARRAY_MODULES}


def load_dfl_pickle(data: bytes | bytearray | memoryview, source: str) -> Any:
    """Unpickle DFL metadata safely; every failure is a FacesetFormatError naming `source`."""
    try:
        return safe_loads(data, extra=_GUARDS)
    except ForbiddenGlobalError as exc:
        raise FacesetFormatError(
            f"{source}: refusing unsafe metadata: its pickle names {exc.module}.{exc.name}, "
            "which DFL files never use (nothing was executed)") from None
    except RecursionError:
        raise FacesetFormatError(f"{source}: corrupt metadata pickle (nested too deeply)") from None
    except MemoryError:
        raise FacesetFormatError(f"{source}: corrupt metadata pickle (asks for too much memory)") from None
    except Exception as exc:  # noqa: BLE001 - the unpickler can only fail, never run code
        raise FacesetFormatError(f"{source}: corrupt metadata pickle ({type(exc).__name__}: {exc})") from None
