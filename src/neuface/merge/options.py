"""`neuface merge`'s options, with DFL's merger names and ranges (dfl-formats.md §10.2), validated in one place.

Declared once (neuface.optionspec) for the CLI flags and `[merge]` in neuface.toml.

`--mask-mode` accepts DFL's names (`learned-prd*learned-dst`, `XSeg-dst`, ...), DFL's numbers 0..9, and any
`*`-product of the terms below, plus neuface's `stored` (the XSeg mask `neuface mask` stored on the dst
faces, re-warped to the model's face type).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neuface.detect import DEFAULT_STRENGTH, backend_help
from neuface.dfl.facetype import DEFAULT_FACE_TYPE, MODEL_CODES
from neuface.errors import UsageError
from neuface.imaging.color_transfer import MERGE_MODES
from neuface.merge.effects import SHARPEN_MODES
from neuface.optionspec import StageOptions, option

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
# DFL's ranges of MergerConfigMasked's numbers, checked in this order.
DFL_RANGES = {"erode": (-400, 400), "blur": (0, 400), "face_scale": (-50, 50), "sharpen": (-100, 100),
              "hist_match_threshold": (0, 255), "denoise": (0, 500), "motion_blur": (0, 100),
              "bicubic_degrade": (0, 100), "color_degrade": (0, 100)}


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
class MergeOptions(StageOptions):
    """One `neuface merge` run: the CLI flags, `[merge]` in neuface.toml; how each face is merged is DFL's
    MergerConfigMasked (same names and ranges). The plain fields at the end are set by code only."""

    STAGE = "merge"

    video: Path | None = option(None, argument=True, help="The dst video. Default: the workspace's data_dst.* video.")
    dfm: Path | None = option(None, flags="--dfm", metavar="FILE.dfm", help="A DeepFaceLive .dfm model.")
    model_dir: Path | None = option(None, flags="--model-dir", help="SAEHD model folder. Default: <workspace>/model "
                                    "(its SAEHD model, else its only .dfm).")
    name: str | None = option(None, flags="--name", help="Model name when the folder holds several.")
    out: Path | None = option(None, flags=("--out", "-o"), help="Output video (.mp4/.mov/.mkv/.webm/.avi). Default: "
                              "<workspace>/result.mp4 unless only --frames-dir is given.")
    frames_dir: Path | None = option(None, flags="--frames-dir", help="Also (or only) write merged frames as "
                                     "00001.png ... into this folder.")
    preview: int = option(0, flags="--preview", metavar="N", min=0, help="Only merge N evenly spaced frames and "
                          "write them before|after as one PNG (<out stem>_preview.png).")
    preview_file: Path | None = option(None, flags="--preview-file", help="Where --preview writes.")
    mode: str = option("overlay", flags="--mode", help="overlay | hist-match | seamless | seamless-hist-match | "
                       "raw-rgb | raw-predict (the model's square itself, not pasted) | original.")
    mask_mode: str = option(DEFAULT_MASK_MODE, flags="--mask-mode", help="DFL's mask mode (name or 0..9), e.g. "
                            "learned-prd*learned-dst, dst, full, xseg-dst, learned-prd*learned-dst*xseg-prd*xseg-dst; "
                            "'stored' = the dst faces' stored XSeg masks.")
    # erode_mask_modifier, in mask-subres pixels (4x model res)
    erode: int = option(0, flags="--erode", help="Erode (>0) or dilate (<0) the mask, -400..400.")
    blur: int = option(0, flags="--blur", help="Blur the mask edge, 0..400.")  # blur_mask_modifier
    color_transfer: str = option("rct", flags="--color-transfer", help=f"{' | '.join(COLOR_MODES)}.")
    face_scale: int = option(0, flags="--face-scale", help="Scale the pasted face, -50..50 %.")  # output_face_scale
    # motion_blur_power (needs one face per frame; see merge.motion)
    motion_blur: int = option(0, flags="--motion-blur", help="Blur a moving face along its motion (frame to frame), "
                              "0..100; frames with one face.")
    sharpen: int = option(0, flags="--sharpen", help="Sharpen (>0) or blur (<0) the face, -100..100.")
    sharpen_mode: str = option("gaussian", flags="--sharpen-mode",
                               help=f"How --sharpen sharpens: {' | '.join(SHARPEN_MODES)}.")
    denoise: int = option(0, flags="--denoise", help="Median-filter the face, 0..500 (100 per 5x5 pass).")
    bicubic_degrade: int = option(0, flags="--bicubic-degrade", help="Soften the face to match a low-resolution "
                                  "video, 0..100.")
    color_degrade: int = option(0, flags="--color-degrade", help="Blend the face toward 256 colours to match a "
                                "compressed video, 0..100.")
    hist_match_threshold: int = option(255, flags="--hist-match-threshold", help="hist-match modes: 0..255 (lower "
                                       "keeps highlights down).")
    label: bool = option(True, flags="--label/--no-label", help="Visible 'AI-generated' corner label (metadata is "
                         "written either way).")
    faces: str = option("auto", flags="--faces", help="auto (stored alignments when every frame was extracted, else "
                        "detect) | stored | detect.")
    backend: str = option("auto", flags="--backend", help="Detector for on-the-fly faces: " + backend_help())
    max_faces: int = option(0, flags="--max-faces", min=0, help="Detected faces per frame, largest first (0 = all).")
    smooth: bool = option(True, flags="--smooth/--no-smooth", help="Steady the faces over time (One-Euro filter on "
                          "each face track's landmarks): no trembling face on a still head. --no-smooth = DFL's "
                          "merger.")
    smooth_strength: float = option(DEFAULT_STRENGTH, flags="--smooth-strength", min=0.0, max=1.0,
                                    help="0..1: higher = steadier but lags more in fast motion (0 = off).")
    face_type: str | None = option(None, flags="--face-type", help="A .dfm's face type when its metadata lacks it: "
                                   f"{'|'.join(MODEL_CODES)} (default {DEFAULT_FACE_TYPE.short_name}).")
    morph_factor: float = option(1.0, flags="--morph-factor", help="AMP .dfm morph value, 0..1.")
    xseg_dir: Path | None = option(None, flags="--xseg-dir", help="XSeg model for xseg-* mask modes. Default: the "
                                   "model folder.")
    batch_size: int = option(8, flags="--batch-size", min=1, help="Frames per model batch.")
    crf: int = option(18, flags="--crf", min=0, max=51, help="Video quality (lower = better, larger).")
    force: bool = option(False, flags="--force", help="Replace an existing output.")
    masked_hist_match: bool = True
    workers: int | None = None  # paste threads; None = one per core (max 4), 0 = inline
    device: str = "auto"
    precision: str = "auto"

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
        """Self, or UsageError naming the first bad option (DFL's merger ranges, then the CLI's own)."""
        if self.mode not in MODES:
            raise UsageError(f"--mode {self.mode!r}: choose from {', '.join(MODES)}")
        parse_mask_mode(self.mask_mode)
        if self.sharpen_mode not in SHARPEN_MODES:
            raise UsageError(f"--sharpen-mode {self.sharpen_mode!r}: choose from {', '.join(SHARPEN_MODES)}")
        if self.color_transfer not in COLOR_MODES:
            raise UsageError(f"--color-transfer {self.color_transfer!r}: choose from {', '.join(COLOR_MODES)}")
        for name, (lo, hi) in DFL_RANGES.items():
            if not lo <= (value := getattr(self, name)) <= hi:
                raise UsageError(f"--{name.replace('_', '-')} {value}: expected {lo}..{hi} (DFL's range)")
        return super().validated()
