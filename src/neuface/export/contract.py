"""The DeepFaceLive `.dfm` contract as data: names, order, limits (see docs/dfm-contract.md).

One place for these numbers so the exporter and the checker can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

INPUT_FACE = "in_face:0"
INPUT_MORPH = "morph_value:0"
OUT_FACE_MASK = "out_face_mask:0"
OUT_CELEB_FACE = "out_celeb_face:0"
OUT_CELEB_FACE_MASK = "out_celeb_face_mask:0"


@dataclass(frozen=True)
class OutputSpec:
    """One graph output: DeepFaceLive unpacks outputs positionally, so the index is binding."""

    name: str
    channels: int
    meaning: str


OUTPUTS: tuple[OutputSpec, ...] = (
    OutputSpec(OUT_FACE_MASK, 1, "mask of the input (user) face"),
    OutputSpec(OUT_CELEB_FACE, 3, "swapped celeb face, BGR"),
    OutputSpec(OUT_CELEB_FACE_MASK, 1, "mask of the swapped face"),
)
OUTPUT_NAMES: tuple[str, ...] = tuple(o.name for o in OUTPUTS)

# onnxruntime 1.15.1 (DeepFaceLive's pin) loads IR <= 9 and ai.onnx opset <= 19; DirectML of that era
# documents opset <= 17. Our own exports use IR 8 / opset 17.
MAX_IR_VERSION = 9
MAX_OPSET = 19
MAX_OPSET_NO_WARN = 17
EXPORT_IR_VERSION = 8
EXPORT_OPSET = 17
DEFAULT_DOMAINS = ("", "ai.onnx")
MAX_FILE_BYTES = 2**31 - 1  # protobuf's hard limit for a single-file model

# DeepFaceLive's default morph factor (UI slider), fed as float32 [1].
DEFAULT_MORPH = 0.75
# How far outside 0..1 an output may stray (float rounding of a sigmoid) before it counts as out of range.
RANGE_SLACK = 1e-5
