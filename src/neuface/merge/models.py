"""Model runners: aligned dst faces in, (swapped face, its mask, dst mask) out, in batches.

Two kinds, one interface: a DeepFaceLive `.dfm` run through onnxruntime exactly as DeepFaceLive feeds it
(dfm-contract.md §1a: NHWC BGR 0..1 `in_face:0`, outputs unpacked positionally), and a PyTorch SAEHD
model folder (DFL's or neuface's) through `neuface.train`. Provenance (name, iteration, face type) comes
from the `.dfm`'s metadata or the model folder, so the merged video can say which model made it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuface.dfl.facetype import DEFAULT_FACE_TYPE, FaceType, UnknownFaceTypeError
from neuface.errors import ModelFormatError, UsageError


@dataclass
class ModelOutputs:
    """NHWC float32 in 0..1: swapped face (N,R,R,3), its mask (learned-prd) and the dst mask (learned-dst), (N,R,R)."""

    face: np.ndarray
    face_mask: np.ndarray
    dst_mask: np.ndarray


@dataclass
class ModelRunner:
    """What every runner knows about its model; `run` is implemented by the subclasses."""

    name: str
    iteration: int | None
    resolution: int
    face_type: str  # DFL full name, e.g. "whole_face"
    batch_size: int = 8
    source: str = ""

    def run_batch(self, faces: np.ndarray) -> ModelOutputs:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, faces: np.ndarray) -> ModelOutputs:
        """All faces (N,R,R,3) float32 BGR 0..1, in batches of `batch_size`."""
        parts = [self.run_batch(faces[i:i + self.batch_size]) for i in range(0, len(faces), self.batch_size)]
        if not parts:
            r = self.resolution
            return ModelOutputs(np.zeros((0, r, r, 3), np.float32), np.zeros((0, r, r), np.float32),
                                np.zeros((0, r, r), np.float32))
        keys = ("face", "face_mask", "dst_mask")
        return ModelOutputs(*(np.concatenate([getattr(p, k) for p in parts]) for k in keys))

    @property
    def label(self) -> str:
        it = f", iteration {self.iteration}" if self.iteration is not None else ""
        return f"{self.name}{it}"


def _face_type(value: str | FaceType, where: str) -> str:
    try:
        ft = FaceType.from_string(value)
    except UnknownFaceTypeError as exc:
        raise UsageError(f"{where}: {exc}") from exc
    if ft.padding is None:
        raise UsageError(f"{where}: face type {ft.dfl_name!r} cannot be merged (no alignment transform)")
    return ft.dfl_name


def _to_hw(a: np.ndarray) -> np.ndarray:
    """A mask output (N,H,W,1) or (N,H,W) as float32 (N,H,W) clipped to 0..1."""
    a = np.asarray(a, np.float32)
    if a.ndim == 4:
        a = a[..., 0]
    return np.clip(a, 0.0, 1.0)


class DfmRunner(ModelRunner):
    """A `.dfm` through onnxruntime (CUDA when the device asks for it and onnxruntime-gpu is installed)."""

    def __init__(self, path: Path, device: str = "auto", batch_size: int = 8, face_type: str | None = None,
                 morph_factor: float = 1.0):
        from neuface import runtime

        path = Path(path)
        if not path.is_file():
            raise UsageError(f"--dfm {path}: no such file")
        try:
            self.session = runtime.ort_session(path, device)
        except UsageError:
            raise
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelFormatError(f"{path}: not a loadable .dfm/ONNX model ({str(exc).splitlines()[0]})") from exc
        inputs = self.session.get_inputs()
        if not inputs or "in_face" not in inputs[0].name:
            raise ModelFormatError(f"{path}: not a .dfm (its first input must be named in_face:0)")
        shape = inputs[0].shape
        if len(shape) != 4 or not isinstance(shape[1], int) or shape[1] != shape[2] or shape[3] != 3:
            raise ModelFormatError(f"{path}: in_face input has shape {shape}, expected [N, R, R, 3] (NHWC)")
        if len(self.session.get_outputs()) < 3:
            raise ModelFormatError(f"{path}: a .dfm has three outputs (face mask, swapped face, its mask)")
        self.input_name = inputs[0].name
        self.morph_name = inputs[1].name if len(inputs) > 1 and "morph_value" in inputs[1].name else None
        self.morph_factor = float(morph_factor)
        meta = dict(self.session.get_modelmeta().custom_metadata_map or {})
        fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        iteration = meta.get("iteration")
        super().__init__(
            name=meta.get("model_name") or path.stem,
            iteration=int(iteration) if str(iteration or "").isdigit() else None,
            resolution=int(shape[1]),
            # DeepFaceLive frames every face as whole_face (dfm-contract.md §1b): neuface's default too
            face_type=_face_type(face_type or meta.get("face_type") or DEFAULT_FACE_TYPE,
                                 "--face-type" if face_type else str(path)),
            batch_size=min(batch_size, fixed_batch) if fixed_batch else batch_size,
            source=str(path),
        )

    def run_batch(self, faces: np.ndarray) -> ModelOutputs:
        feed: dict[str, Any] = {self.input_name: np.ascontiguousarray(faces, np.float32)}
        if self.morph_name:
            feed[self.morph_name] = np.float32([self.morph_factor])
        face_mask, face, celeb_mask = self.session.run(None, feed)[:3]
        return ModelOutputs(np.clip(np.asarray(face, np.float32), 0, 1), _to_hw(celeb_mask), _to_hw(face_mask))


class TorchRunner(ModelRunner):
    """A SAEHD model folder in PyTorch on the runtime's device and precision."""

    def __init__(self, model_dir: Path, name: str | None = None, device: str = "auto", precision: str = "auto",
                 batch_size: int = 8):
        from neuface import runtime
        from neuface.train import find_model, load_model

        self.device = runtime.resolve_device(device)
        runtime.configure_backends(self.device)
        self.precision = runtime.choose_precision(self.device, precision)
        ref = find_model(Path(model_dir), name)
        model = load_model(ref, device=self.device, training=False)
        self.net = model.net.eval()
        super().__init__(name=ref.name, iteration=int(model.iter), resolution=int(model.options.resolution),
                         face_type=_face_type(model.options.face_type, str(ref.data_file)), batch_size=batch_size,
                         source=str(ref.data_file))

    def run_batch(self, faces: np.ndarray) -> ModelOutputs:
        import torch

        from neuface import runtime

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(faces, np.float32)).to(self.device).permute(0, 3, 1, 2)
            with runtime.autocast(self.device, self.precision):
                face, face_mask, dst_mask = self.net.merge(x)
            face_np = face.float().permute(0, 2, 3, 1).cpu().numpy()
            return ModelOutputs(np.clip(face_np, 0, 1), _to_hw(face_mask.float()[:, 0].cpu().numpy()),
                                _to_hw(dst_mask.float()[:, 0].cpu().numpy()))


def open_model(dfm: Path | None, model_dir: Path | None, workspace_model_dir: Path, *, name: str | None = None,
               device: str = "auto", precision: str = "auto", batch_size: int = 8, face_type: str | None = None,
               morph_factor: float = 1.0) -> ModelRunner:
    """The runner for `--dfm` or `--model-dir`; neither: the workspace model folder's SAEHD model, else its .dfm."""
    from neuface.train import list_models

    if dfm is not None and model_dir is not None:
        raise UsageError("pass either --dfm or --model-dir, not both")
    if dfm is not None:
        return DfmRunner(dfm, device, batch_size, face_type, morph_factor)
    folder = Path(model_dir) if model_dir is not None else Path(workspace_model_dir)
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such model folder (pass --dfm FILE.dfm or --model-dir DIR)")
    if list_models(folder):
        if face_type is not None:
            raise UsageError("--face-type applies to a .dfm; a model folder's face type is in its options")
        return TorchRunner(folder, name, device, precision, batch_size)
    dfms = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".dfm")
    if len(dfms) == 1 and model_dir is None:
        return DfmRunner(dfms[0], device, batch_size, face_type, morph_factor)
    found = f"{len(dfms)} .dfm files" if dfms else "no .dfm"
    raise UsageError(f"{folder}: no SAEHD model (*_SAEHD_data.dat) and {found}: pass --dfm FILE.dfm or --model-dir DIR")


def describe(runner: ModelRunner) -> str:
    """One line for the log."""
    kind = "dfm" if isinstance(runner, DfmRunner) else "SAEHD"
    return (f"{kind} model {runner.label} ({runner.face_type}, {runner.resolution} px) "
            f"from {os.path.basename(runner.source)}")
