"""Keep freed memory in the process on glibc, so each CPU training step does not page-fault its
activations, gradients and casts in again.

Every SAEHD step allocates and frees the same few GB (activations, ~80M-parameter gradients, bf16 weight
casts). glibc serves big blocks with mmap and returns them to the OS on free, so the next step touches
fresh pages: on a 2-core VM a fresh 330 MB tensor took 0.19 s against 0.04 s from retained memory.
Telling malloc to use its heap and not trim it makes the allocations reuse warm pages; resident memory
then stays at the step's peak instead of dropping between steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_NEVER = 2**31 - 1


@functools.lru_cache(maxsize=1)
def retain_freed_memory() -> bool:
    """Apply the policy once per process; False where the C library is not glibc (nothing changes)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return all([mallopt(_M_MMAP_MAX, 0), mallopt(_M_MMAP_THRESHOLD, _NEVER), mallopt(_M_TRIM_THRESHOLD, _NEVER)])
