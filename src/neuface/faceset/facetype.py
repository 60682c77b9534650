"""DFL's FaceType and SampleType enums, with DFL's integer values.

Both are registered with the restricted unpickler under DFL's module paths
(`facelib.FaceType.FaceType`, `samplelib.Sample.SampleType`): faceset.pak sample tables pickle them
by class, so reading maps them onto these enums and writing records them under DFL's names.
"""

from __future__ import annotations

from enum import IntEnum

from neuface.errors import UsageError
from neuface.safe_pickle import register_global


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
        return _DFL_NAMES[self]

    @property
    def short_name(self) -> str:
        """The short code used in model options ("h", "mf", "f", "wf", "head"); else the DFL name."""
        return _SHORT_NAMES.get(self, _DFL_NAMES[self])

    @classmethod
    def from_string(cls, s: str) -> FaceType:
        """Parse a DFL name or short code, case-insensitively (DFL's `fromString` lower-cases too)."""
        key = str(s).strip().lower()
        found = _BY_NAME.get(key)
        if found is None:
            valid = ", ".join(sorted(_BY_NAME))
            raise UsageError(f"unknown face type {s!r} (valid: {valid})")
        return found

    def __str__(self) -> str:
        return self.dfl_name


_DFL_NAMES = {
    FaceType.HALF: "half_face",
    FaceType.MID_FULL: "midfull_face",
    FaceType.FULL: "full_face",
    FaceType.FULL_NO_ALIGN: "full_face_no_align",
    FaceType.WHOLE_FACE: "whole_face",
    FaceType.HEAD: "head",
    FaceType.HEAD_NO_ALIGN: "head_no_align",
    FaceType.MARK_ONLY: "mark_only",
}
_SHORT_NAMES = {
    FaceType.HALF: "h",
    FaceType.MID_FULL: "mf",
    FaceType.FULL: "f",
    FaceType.WHOLE_FACE: "wf",
    FaceType.HEAD: "head",
}
_BY_NAME: dict[str, FaceType] = {**{v: k for k, v in _DFL_NAMES.items()}, **{v: k for k, v in _SHORT_NAMES.items()}}


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
