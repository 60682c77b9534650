"""Every threshold of `neuface curate` in one frozen dataclass: the CLI, neuface.toml and tests share it.

Thresholds are relative to the faceset where a faceset-wide notion exists (robust z-scores: median and
MAD of this faceset), because "blurry" or "dark" only means something next to the user's other faces;
they are absolute where the quantity has a fixed meaning (share of black pixels, identity distance).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from neuface.errors import UsageError

REASONS: tuple[str, ...] = ("misaligned", "occluded", "blurry", "other_person", "cut_off", "exposure")
# A face flagged for several reasons is trashed and shown under the first of these: the cause, not its
# side effects (a cut-off face also looks dark, a dark face also looks blurry, another person's face
# differs everywhere).
PRIORITY: tuple[tuple[str, ...], ...] = (("other_person",), ("cut_off",), ("exposure",),
                                         ("occluded", "misaligned"), ("blurry",))
# Within a group the higher score wins: a covered eye also confuses the landmark re-detection, and a
# shifted crop also moves regions out of place; whichever is further past its line is the cause.

HELP: dict[str, str] = {
    "misalign_max": "misaligned: flag when re-detected landmarks disagree with the stored ones by more than "
                    "this (mean point distance / eye distance).",
    "shape_max": "misaligned: flag when the stored landmarks are this far from the mean face shape "
                 "(Procrustes residual, template units).",
    "occlusion_max": "occluded: flag when one region of the face is this anomalous (robust z vs the same "
                     "region across the faceset).",
    "mask_occlusion_max": "occluded: with a stored XSeg mask, flag when it removes more than this share of "
                          "the landmark hull.",
    "blur_z": "blurry: flag when sharpness is this many robust standard deviations below the faceset's median.",
    "rare_angle_min": "blurry: keep a blurry face when fewer than this many sharp faces share its yaw/pitch.",
    "angle_bin": "blurry: faces within this many degrees (yaw and pitch, window centred on the face) share an angle.",
    "identity_max": "other_person: flag when the identity embedding is farther than this from the faceset's "
                    "main identity (unit vectors).",
    "identity_z": "other_person: also flag when the distance is this many robust standard deviations above the "
                  "faceset's median distance (and above --identity-floor): recognition models differ in scale.",
    "identity_floor": "other_person: the --identity-z rule never flags a distance below this.",
    "cut_max": "cut_off: flag when more than this share of the face hull is the black border outside the frame.",
    "exposure_max": "exposure: flag when mean brightness or contrast in the hull differs from the faceset's "
                    "median by more than this log ratio (0.4: about 1.5x).",
    "clip_max": "exposure: flag when more than this share of the hull is clipped (near 0 or 255).",
}


@dataclass(frozen=True)
class CurateOptions:
    """Thresholds and switches for one curate run (see HELP for what each one means)."""

    misalign_max: float = 0.12
    shape_max: float = 0.08
    occlusion_max: float = 5.5
    mask_occlusion_max: float = 0.15
    blur_z: float = 2.5
    rare_angle_min: int = 3
    angle_bin: float = 15.0
    identity_max: float = 0.45
    identity_z: float = 2.8
    identity_floor: float = 0.3
    cut_max: float = 0.05
    exposure_max: float = 0.4
    clip_max: float = 0.15
    keep_rare_angles: bool = True
    jobs: int | None = None

    def validated(self) -> CurateOptions:
        """Self, or a UsageError naming the first out-of-range option (as its CLI flag)."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("keep_rare_angles", "jobs"):
                continue
            if not isinstance(value, (int, float)) or value != value or value < 0:
                raise UsageError(f"--{f.name.replace('_', '-')} must be a number >= 0 (got {value!r})")
        for name in ("cut_max", "clip_max", "mask_occlusion_max"):
            if getattr(self, name) > 1:
                raise UsageError(f"--{name.replace('_', '-')} is a share of the face: 0..1 "
                                 f"(got {getattr(self, name)})")
        if self.angle_bin <= 0:
            raise UsageError(f"--angle-bin must be > 0 degrees (got {self.angle_bin})")
        if self.jobs is not None and self.jobs < 1:
            raise UsageError(f"--jobs must be >= 1 (got {self.jobs})")
        return self

    def with_values(self, **values: Any) -> CurateOptions:
        """A copy with some options changed (None values are ignored, so CLI defaults pass through)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})
