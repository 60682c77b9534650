"""Merge options with DFL's merger names and ranges (dfl-formats.md §10.2), validated in one place.

`--mask-mode` accepts DFL's names (`learned-prd*learned-dst`, `XSeg-dst`, ...), DFL's numbers 0..9, and any
`*`-product of the terms below, plus neuface's `stored` (the XSeg mask `neuface mask` stored on the dst
faces, re-warped to the model's face type).
"""

from __future__ import annotations

from dataclasses import dataclass

from neuface.errors import UsageError
from neuface.imaging.color_transfer import MERGE_MODES
from neuface.merge.effects import SHARPEN_MODES

# DFL's mode_dict; raw-predict outputs the model's R x R square itself instead of a frame.
MODES = ("original", "overlay", "hist-match", "seamless", "seamless-hist-match", "raw-rgb", "raw-predict")
COLOR_MODES = ("none", *MERGE_MODES)

# Terms a mask mode multiplies together.
MASK_TERMS = ("full", "dst", "learned-prd", "learned-dst", "learned-prd+learned-dst", "xseg-prd", "xseg-dst",
              "stored")
# DFL's numbered mask modes (MergerConfigMasked.mask_mode).
DFL_MASK_MODES = {
    0: "full", 1: "dst", 2: "learned-prd", 3: "learned-dst", 4: "learned-prd*learned-dst",
    5: "learned-prd+learned-dst", 6: "xseg-prd", 7: "xseg-dst", 8: "xseg-prd*xseg-dst",
    9: "learned-prd*learned-dst*xseg-prd*xseg-dst",
}
DEFAULT_MASK_MODE = "learned-prd*learned-dst"  # DFL's MergerConfigMasked default; DeepFaceLive's too


def parse_mask_mode(text: str) -> tuple[str, ...]:
    """The terms of a mask mode (DFL name, DFL number or `*`-product), lower-cased; UsageError when unknown."""
    s = str(text).strip().lower()
    if s.isdigit():
        if int(s) not in DFL_MASK_MODES:
            raise UsageError(f"--mask-mode {text}: DFL's numbered modes are 0..9")
        s = DFL_MASK_MODES[int(s)]
    terms = tuple(t.strip() for t in s.split("*"))
    bad = [t for t in terms if t not in MASK_TERMS]
    if not terms or bad:
        raise UsageError(f"--mask-mode {text!r}: unknown term(s) {', '.join(bad) or '(empty)'}; use a product of "
                         f"{', '.join(MASK_TERMS)} (e.g. learned-prd*learned-dst) or DFL's number 0..9")
    return terms


@dataclass(frozen=True)
class MergeOptions:
    """How each face is merged (DFL's MergerConfigMasked, same names and ranges)."""

    mode: str = "overlay"
    mask_mode: str = DEFAULT_MASK_MODE
    erode: int = 0  # erode_mask_modifier, -400..400 (negative dilates), in mask-subres pixels (4x model res)
    blur: int = 0  # blur_mask_modifier, 0..400
    color_transfer: str = "rct"
    face_scale: int = 0  # output_face_scale, -50..50 percent
    motion_blur: int = 0  # motion_blur_power, 0..100 (needs one face per frame; see merge.motion)
    sharpen: int = 0  # blursharpen_amount, -100..100 (negative blurs)
    sharpen_mode: str = "gaussian"  # sharpen_mode (DFL: box | gaussian)
    denoise: int = 0  # image_denoise_power, 0..500
    bicubic_degrade: int = 0  # bicubic_degrade_power, 0..100
    color_degrade: int = 0  # color_degrade_power, 0..100
    hist_match_threshold: int = 255
    masked_hist_match: bool = True
    label: bool = True

    @property
    def mask_terms(self) -> tuple[str, ...]:
        return parse_mask_mode(self.mask_mode)

    @property
    def needs_xseg(self) -> bool:
        return any(t.startswith("xseg") for t in self.mask_terms)

    @property
    def raw(self) -> bool:
        return self.mode.startswith("raw")

    def validated(self) -> MergeOptions:
        """Self, or UsageError naming the first bad option."""
        if self.mode not in MODES:
            raise UsageError(f"--mode {self.mode!r}: choose from {', '.join(MODES)}")
        parse_mask_mode(self.mask_mode)
        if self.sharpen_mode not in SHARPEN_MODES:
            raise UsageError(f"--sharpen-mode {self.sharpen_mode!r}: choose from {', '.join(SHARPEN_MODES)}")
        if self.color_transfer not in COLOR_MODES:
            raise UsageError(f"--color-transfer {self.color_transfer!r}: choose from {', '.join(COLOR_MODES)}")
        for name, value, lo, hi in (("--erode", self.erode, -400, 400), ("--blur", self.blur, 0, 400),
                                    ("--face-scale", self.face_scale, -50, 50), ("--sharpen", self.sharpen, -100, 100),
                                    ("--hist-match-threshold", self.hist_match_threshold, 0, 255),
                                    ("--denoise", self.denoise, 0, 500),
                                    ("--motion-blur", self.motion_blur, 0, 100),
                                    ("--bicubic-degrade", self.bicubic_degrade, 0, 100),
                                    ("--color-degrade", self.color_degrade, 0, 100)):
            if not lo <= value <= hi:
                raise UsageError(f"{name} {value}: expected {lo}..{hi} (DFL's range)")
        return self
