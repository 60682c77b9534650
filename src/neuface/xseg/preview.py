"""What an XSeg training run shows besides the model: `XSeg_summary.txt` and `XSeg_history/preview.png`.

The summary uses DFL's layout and the preview grid the training harness's (`neuface.training.summary`,
`neuface.training.preview`, shared with SAEHD): rows of face, label, predicted mask and overlay (or, in
pretrain mode, face, grey target and reconstruction), plus `loss.png`. All files are written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from neuface.atomic import atomic_write_bytes
from neuface.training.preview import face_grid, write_previews
from neuface.training.summary import device_rows, summary_text

MODEL_NAME = "XSeg"
SUMMARY_NAME = "XSeg_summary.txt"
HISTORY_DIR = "XSeg_history"


def write_summary(model_dir: Path, iteration: int, options: dict, device: torch.device) -> Path:
    path = model_dir / SUMMARY_NAME
    atomic_write_bytes(path, summary_text(MODEL_NAME, iteration, options, device_rows(device)).encode())
    return path


def grey(images: np.ndarray) -> np.ndarray:
    """BGR (N,H,W,3) float -> (N,H,W,1) luma, XSeg pretraining's target."""
    return (images @ np.float32([0.114, 0.587, 0.299]))[..., None].astype(np.float32)


def write_preview(model_dir: Path, iteration: int, images: np.ndarray, labels: np.ndarray, outputs: np.ndarray,
                  loss_history: Sequence[Sequence[float]], pretrain: bool) -> Path:
    """`XSeg_history/preview.png` and `loss.png`; images (N,H,W,3), labels/outputs (N,H,W,1), floats in [0, 1]."""
    def nchw(a: np.ndarray) -> np.ndarray:
        return np.repeat(a, 3, -1).transpose(0, 3, 1, 2) if a.shape[-1] == 1 else a.transpose(0, 3, 1, 2)

    faces = nchw(images)
    if pretrain:
        cols, titles = [faces, nchw(labels), nchw(outputs)], ("face", "grey target", "XSeg")
    else:
        overlay = faces * (0.4 + 0.6 * nchw(outputs)) + nchw(outputs) * np.float32([0, 0.35, 0])[None, :, None, None]
        cols, titles = [faces, nchw(labels), nchw(outputs), np.clip(overlay, 0, 1)], ("face", "label", "XSeg",
                                                                                        "overlay")
    grid = face_grid(cols, titles, caption=f"{MODEL_NAME}  iter {iteration}")
    folder = model_dir / HISTORY_DIR
    write_previews(folder, iteration, grid, loss_history, keep_history=False, labels=("loss",))
    return folder / "preview.png"
