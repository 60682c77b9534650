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
                  loss_history: Sequence[Sequence[float]], pretrain: bool) -> None:
    """`XSeg_history/preview.png` and `loss.png`; images (N,H,W,3), labels/outputs (N,H,W,1), floats in [0, 1]."""
    faces, target, pred = (a.transpose(0, 3, 1, 2) for a in (images, labels, outputs))  # face_grid's layout
    if pretrain:
        cols, titles = [faces, target, pred], ("face", "grey target", "XSeg")
    else:
        overlay = np.clip(faces * (0.4 + 0.6 * pred) + pred * np.float32([0, 0.35, 0])[None, :, None, None], 0, 1)
        cols, titles = [faces, target, pred, overlay], ("face", "label", "XSeg", "overlay")
    grid = face_grid(cols, titles, caption=f"{MODEL_NAME}  iter {iteration}")
    write_previews(model_dir / HISTORY_DIR, iteration, grid, loss_history, keep_history=False, labels=("loss",))
