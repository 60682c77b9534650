"""DFL's FaceType and SampleType enums: one table for what neuface knows about a face type.

A face type is the framing of an aligned crop. DFL spells it three ways: an integer id (faceset.pak's
sample tables), a full name (aligned-face metadata: "whole_face") and a short code (model options: "wf");
its crop padding and remove-align flag (dfl-formats.md §3.1, §3.3) drive `neuface.dfl.align`. Every parse
and print of a face type in neuface goes through `FaceType`; `DEFAULT_FACE_TYPE` (whole_face, what
DeepFaceLive frames) is neuface's default everywhere one is needed (DFL's own default is full_face).

Both enums are registered with the restricted unpickler under DFL's module paths
(`facelib.FaceType.FaceType`, `samplelib.Sample.SampleType`): faceset.pak sample tables pickle them
by class, so reading maps them onto these enums and writing records them under DFL's names.
"""

from __future__ import annotations

from enum import IntEnum
from numbers import Integral
from typing import NamedTuple

from neuface.dfl.safe_pickle import register_global
from neuface.errors import UsageError


class UnknownFaceTypeError(UsageError, ValueError):
    """A face type DFL does not have: a usage error for the CLI, a ValueError for code that validates."""


class _Info(NamedTuple):
    dfl_name: str
    short_code: str | None  # what model options store; only the types a model can have get one
    padding: float | None  # None: no crop (mark_only)
    remove_align: bool


class FaceType(IntEnum):
    """Crop framing of an aligned face; larger values contain smaller ones (DFL's order)."""

    HALF = 0
    MID_FULL = 1
    FULL = 2
    FULL_NO_ALIGN = 3
    WHOLE_FACE = 4
    HEAD = 10
    HEAD_NO_ALIGN = 20
    MARK_ONLY = 100

    @property
    def dfl_name(self) -> str:
        """The string DFL stores in image metadata, e.g. "whole_face"."""
        return _TABLE[self].dfl_name

    @property
    def short_name(self) -> str:
        """The short code used in model options ("h", "mf", "f", "wf", "head"); else the DFL name."""
        return _TABLE[self].short_code or _TABLE[self].dfl_name

    @property
    def is_model_type(self) -> bool:
        """A type SAEHD and XSeg models can have (the ones with a short code)."""
        return _TABLE[self].short_code is not None

    @property
    def padding(self) -> float | None:
        """DFL's crop padding (`get_transform_mat`); None for mark_only, which has no crop."""
        return _TABLE[self].padding

    @property
    def remove_align(self) -> bool:
        """The no_align types: the crop is an upright square around the rotated one."""
        return _TABLE[self].remove_align

    @classmethod
    def from_string(cls, value: str | int | FaceType) -> FaceType:
        """Parse a DFL name or short code, case-insensitively (DFL's `fromString` lower-cases too), a DFL
        integer id or a member. UnknownFaceTypeError (a UsageError and a ValueError) for anything else."""
        if isinstance(value, FaceType):
            return value
        if isinstance(value, Integral) and not isinstance(value, bool):
            try:
                return cls(int(value))
            except ValueError:
                raise UnknownFaceTypeError(f"unknown DFL face type value {int(value)}") from None
        found = _BY_NAME.get(value.strip().lower()) if isinstance(value, str) else None
        if found is None:
            raise UnknownFaceTypeError(f"unknown face type {value!r}: expected one of {', '.join(MODEL_CODES)} "
                                       f"or {', '.join(t.dfl_name for t in cls)}")
        return found

    @classmethod
    def model_code(cls, value: str | int | FaceType, what: str = "face type") -> str:
        """The short code a model stores ("wf") for any spelling of a model face type; UsageError naming
        `what` (the option) for the others."""
        ft = cls.from_string(value)
        if not ft.is_model_type:
            raise UnknownFaceTypeError(f"{what} {value!r}: expected {'|'.join(MODEL_CODES)} or DFL's "
                                       f"{'|'.join(t.dfl_name for t in cls if t.is_model_type)}")
        return ft.short_name

    def __str__(self) -> str:
        return self.dfl_name


_TABLE: dict[FaceType, _Info] = {
    FaceType.HALF: _Info("half_face", "h", 0.0, False),
    FaceType.MID_FULL: _Info("midfull_face", "mf", 0.0675, False),
    FaceType.FULL: _Info("full_face", "f", 0.2109375, False),
    FaceType.FULL_NO_ALIGN: _Info("full_face_no_align", None, 0.2109375, True),
    FaceType.WHOLE_FACE: _Info("whole_face", "wf", 0.40, False),
    FaceType.HEAD: _Info("head", "head", 0.70, False),
    FaceType.HEAD_NO_ALIGN: _Info("head_no_align", None, 0.70, True),
    FaceType.MARK_ONLY: _Info("mark_only", None, None, False),
}
_BY_NAME: dict[str, FaceType] = {name: ft for ft, info in _TABLE.items()
                                 for name in (info.dfl_name, info.short_code) if name}
MODEL_CODES: tuple[str, ...] = tuple(ft.short_name for ft in FaceType if ft.is_model_type)
DEFAULT_FACE_TYPE = FaceType.WHOLE_FACE  # neuface's default: DeepFaceLive frames every face as whole_face


def face_type_name(value: str | int | FaceType) -> str:
    """DFL's full face-type name for a full name, short code, DFL integer or member."""
    return FaceType.from_string(value).dfl_name


class SampleType(IntEnum):
    """DFL's `samplelib.Sample.SampleType` (FACE is an alias of FACE_BEGIN, as in DFL)."""

    IMAGE = 0
    FACE_BEGIN = 1
    FACE = 1
    FACE_PERSON = 2
    FACE_TEMPORAL_SORTED = 3
    FACE_END = 3
    QTY = 4


register_global("facelib.FaceType", "FaceType", FaceType)
register_global("samplelib.Sample", "SampleType", SampleType)
