"""User-facing error types: each prints as one line and sets the exit code."""

from __future__ import annotations

import pickle


class NeufaceError(Exception):
    """An error the user can act on: printed as one line, no traceback, non-zero exit."""

    exit_code: int = 1


class UsageError(NeufaceError):
    """Bad combination of options or missing input the user must supply."""

    exit_code = 2


class FacesetFormatError(NeufaceError):
    """An aligned-face image or faceset.pak is malformed or unsafe."""


class ModelFormatError(NeufaceError):
    """A model folder file (weights, optimizer, data.dat) is malformed, unsafe or mismatched."""


class VideoError(NeufaceError):
    """A video cannot be opened or decoded."""


class ForbiddenGlobalError(pickle.UnpicklingError):
    """A pickle referenced a global that the restricted unpickler does not allow."""

    def __init__(self, module: str, name: str):
        super().__init__(f"forbidden pickle global {module}.{name}")
        self.module = module
        self.name = name
