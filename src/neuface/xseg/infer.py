"""Run XSeg on batches of 256×256 faces: DFL's `XSegNet.extract` (sigmoid, clip, < 0.1 -> 0), batched,
on the runtime layer's device and precision. Merge and `neuface mask` both use `XSegMasker`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neuface import runtime
from neuface.dfl.weights import read_pickle_bytes
from neuface.errors import ModelFormatError
from neuface.xseg.model_files import XSegFiles, find_xseg_files, load_dfl_state
from neuface.xseg.net import RESOLUTION, XSeg


def load_net(files: XSegFiles) -> XSeg:
    """An XSeg network (eval mode, CPU, fp32) holding the weights in `files`."""
    net = XSeg()
    load_dfl_state(net, read_pickle_bytes(files.weights, files.weights_name), files.weights_name)
    return net.eval()


def xseg_precision(device: torch.device, override: str = "auto") -> runtime.Precision:
    """XSeg's `auto`: fp16 on CUDA, fp32 on CPU; an explicit fp32/bf16/fp16 wins.

    Why not the runtime's bf16: bf16's 8-bit mantissa through XSeg's 40 layers moves sigmoid masks by up to
    ~0.05 (mean 0.006) on the DFL reference, fp16 by 0.005; fp16 is safe here because every block is
    FRN-normalised (no overflow), and fp16 autocast on CPU is ~100x slower than fp32.
    """
    if (override or "auto").lower() == "auto":
        return runtime.Precision("fp16" if device.type == "cuda" else "fp32")
    return runtime.choose_precision(device, override)


def to_input(faces: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N,256,256,3) BGR uint8 (0..255) or float (0..1) NHWC -> float32 NCHW on `device`."""
    t = torch.from_numpy(np.ascontiguousarray(faces))
    t = t.to(device, non_blocking=True).permute(0, 3, 1, 2)
    return t.float().div_(255.0) if faces.dtype == np.uint8 else t.float()


@dataclass
class XSegMasker:
    """An XSeg network ready for inference on one device, with that device's precision policy."""

    net: XSeg
    device: torch.device
    precision: runtime.Precision
    batch_size: int = 8

    @classmethod
    def from_files(cls, files: XSegFiles, device: str | torch.device = "auto", precision: str = "auto",
                   batch_size: int = 8) -> XSegMasker:
        dev = device if isinstance(device, torch.device) else runtime.resolve_device(device)
        runtime.configure_backends(dev)
        return cls(load_net(files).to(dev), dev, xseg_precision(dev, precision), batch_size)

    @classmethod
    def from_dir(cls, model_dir: Path, **kwargs: object) -> XSegMasker:
        files = find_xseg_files([model_dir])
        if files is None:
            raise ModelFormatError(f"{model_dir}: no XSeg model (XSeg_256.npy or GenericXSeg.zip) found")
        return cls.from_files(files, **kwargs)  # type: ignore[arg-type]

    @torch.inference_mode()
    def logits(self, faces: np.ndarray) -> np.ndarray:
        """Raw logits (N,256,256) float32 for one batch of faces (no batching here)."""
        x = to_input(faces, self.device)
        with runtime.autocast(self.device, self.precision):
            y = self.net(x)
        return y.float()[:, 0].cpu().numpy()

    @torch.inference_mode()
    def predict(self, faces: np.ndarray) -> np.ndarray:
        """DFL's `extract`: masks (N,256,256) float32 in [0,1], values below 0.1 set to 0, in batches."""
        if faces.ndim != 4 or faces.shape[1:] != (RESOLUTION, RESOLUTION, 3):
            raise ValueError(f"XSeg expects (N,{RESOLUTION},{RESOLUTION},3) faces, got {faces.shape}")
        out = np.empty(faces.shape[:3], np.float32)
        for i in range(0, len(faces), self.batch_size):
            chunk = faces[i:i + self.batch_size]
            x = to_input(chunk, self.device)
            with runtime.autocast(self.device, self.precision):
                y = self.net(x)
            m = torch.sigmoid(y.float()[:, 0]).clamp_(0.0, 1.0)
            m = torch.where(m < 0.1, torch.zeros_like(m), m)
            out[i:i + len(chunk)] = m.cpu().numpy()
        return out
