"""`neuface export`'s options, declared once for the CLI, `[export]` in neuface.toml and `neuface run`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neuface.optionspec import StageOptions, option


@dataclass(frozen=True)
class ExportOptions(StageOptions):
    """Export the workspace's SAEHD model as a .dfm, or `check` one."""

    STAGE = "export"

    out: Path | None = option(None, argument=True,
                              help="Output .dfm. Default: <model-dir>/<name>_SAEHD_model.dfm (DFL's name).")
    model_dir: Path | None = option(None, flags="--model-dir", help="Model folder. Default: <workspace>/model.")
    name: str | None = option(None, flags="--name",
                              help="Model name (the <name>_SAEHD_* files) when the folder holds several.")
    fp16: bool = option(False, flags="--fp16",
                        help="fp16 weights and compute inside, float32 inputs/outputs (about half the size).")
    opset: int = option(17, flags="--opset", help="ONNX opset, 12..19 (DeepFaceLive's onnxruntime 1.15.1 loads <= 19).")
    check: Path | None = option(None, flags="--check", metavar="FILE.dfm",
                                help="Validate FILE.dfm against DeepFaceLive's contract instead of exporting; exit 1 "
                                     "on FAIL.")
