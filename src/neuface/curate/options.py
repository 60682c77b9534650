"""Every option of `neuface curate` in one frozen dataclass: the CLI, neuface.toml, `neuface run` and tests share it.

Thresholds are relative to the faceset where a faceset-wide notion exists (robust z-scores: median and
MAD of this faceset), because "blurry" or "dark" only means something next to the user's other faces;
they are absolute where the quantity has a fixed meaning (share of black pixels, identity distance).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuface.errors import UsageError
from neuface.optionspec import StageOptions, option

REASONS: tuple[str, ...] = ("misaligned", "occluded", "blurry", "other_person", "cut_off", "exposure")
# A face flagged for several reasons is trashed and shown under the first of these: the cause, not its
# side effects (a cut-off face also looks dark, a dark face also looks blurry, another person's face
# differs everywhere).
PRIORITY: tuple[tuple[str, ...], ...] = (("other_person",), ("cut_off",), ("exposure",),
                                         ("occluded", "misaligned"), ("blurry",))
# Within a group the higher score wins: a covered eye also confuses the landmark re-detection, and a
# shifted crop also moves regions out of place; whichever is further past its line is the cause.

# The options that decide the verdicts, in curate.json's order ("options" there; jobs and the run switches
# change no verdict).
SCORED: tuple[str, ...] = ("misalign_max", "shape_max", "occlusion_max", "mask_occlusion_max", "blur_z",
                           "rare_angle_min", "angle_bin", "identity_max", "identity_z", "identity_floor", "cut_max",
                           "exposure_max", "clip_max", "keep_rare_angles")
_SHARES = ("cut_max", "clip_max", "mask_occlusion_max")


@dataclass(frozen=True)
class CurateOptions(StageOptions):
    """Thresholds and switches for one curate run, in `neuface curate --help` order."""

    STAGE = "curate"

    sheet: Path | None = option(None, show_default=False, help="Also write a review sheet, grouped by reason, "
                                "worst first: FILE.png (pages of 100) or FILE.html.")
    json_path: Path | None = option(None, flags="--json", show_default=False,
                                    help="Where to write the verdicts. Default: data_<side>/curate.json.")
    apply: bool = option(False, flags="--apply", help="Move the flagged faces to aligned_trash/<reason>/ (a pak is "
                                                      "repacked). Never deletes.")
    restore: bool = option(False, flags="--restore",
                           help="Put back every face an earlier --apply moved, exactly; score nothing.")
    keep_rare_angles: bool = option(True, flags="--keep-rare-angles/--no-keep-rare-angles",
                                    help="Keep a blurry face when few sharp faces share its yaw/pitch.")
    misalign_max: float = option(0.12, help="misaligned: flag when re-detected landmarks disagree with the stored "
                                            "ones by more than this (mean point distance / eye distance).")
    shape_max: float = option(0.08, help="misaligned: flag when the stored landmarks are this far from the mean "
                                         "face shape (Procrustes residual, template units).")
    occlusion_max: float = option(5.5, help="occluded: flag when one region of the face is this anomalous (robust "
                                            "z vs the same region across the faceset).")
    mask_occlusion_max: float = option(0.15, help="occluded: with a stored XSeg mask, flag when it removes more "
                                                  "than this share of the landmark hull.")
    blur_z: float = option(2.5, help="blurry: flag when sharpness is this many robust standard deviations below the "
                                     "faceset's median.")
    rare_angle_min: int = option(3, help="blurry: keep a blurry face when fewer than this many sharp faces share its "
                                         "yaw/pitch.")
    angle_bin: float = option(15.0, help="blurry: faces within this many degrees (yaw and pitch, window centred on "
                                         "the face) share an angle.")
    identity_max: float = option(0.45, help="other_person: flag when the identity embedding is farther than this "
                                            "from the faceset's main identity (unit vectors).")
    identity_z: float = option(2.8, help="other_person: also flag when the distance is this many robust standard "
                                         "deviations above the faceset's median distance (and above "
                                         "--identity-floor): recognition models differ in scale.")
    identity_floor: float = option(0.3, help="other_person: the --identity-z rule never flags a distance below this.")
    cut_max: float = option(0.05, help="cut_off: flag when more than this share of the face hull is the black "
                                       "border outside the frame.")
    exposure_max: float = option(0.4, help="exposure: flag when mean brightness or contrast in the hull differs from "
                                           "the faceset's median by more than this log ratio (0.4: about 1.5x).")
    clip_max: float = option(0.15, help="exposure: flag when more than this share of the hull is clipped (near 0 or "
                                        "255).")
    jobs: int = option(0, min=0, help="Worker processes; 0 = one per core.")

    def verdicts_path(self, frames_dir: Path) -> Path:
        """Where curate.json goes: `--json`, else beside the side's frames (`data_<side>/curate.json`)."""
        return self.json_path or frames_dir / "curate.json"

    def scored(self) -> dict[str, Any]:
        """The options that decide the verdicts (curate.json's "options")."""
        return {name: getattr(self, name) for name in SCORED}

    def validated(self) -> CurateOptions:
        """Self, or a UsageError naming the first out-of-range option (as its CLI flag)."""
        super().validated()
        for name in SCORED[:-1]:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value != value or value < 0:
                raise UsageError(f"--{name.replace('_', '-')} must be a number >= 0 (got {value!r})")
        for name in _SHARES:
            if getattr(self, name) > 1:
                raise UsageError(f"--{name.replace('_', '-')} is a share of the face: 0..1 "
                                 f"(got {getattr(self, name)})")
        if self.angle_bin <= 0:
            raise UsageError(f"--angle-bin must be > 0 degrees (got {self.angle_bin})")
        return self
