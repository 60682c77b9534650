"""Export a SAEHD model to a DeepFaceLive `.dfm`, verified before it is moved into place.

Steps: copy the network to CPU float32 (the caller's model is never touched) -> PyTorch reference outputs
on face crops -> legacy TorchScript ONNX export (torch 2.13's default dynamo exporter writes IR 10, opset
20 and an external `.data` file, all three outside the contract) -> fix IR/shapes/metadata in memory ->
write to a temp file beside the target -> contract check + onnxruntime-vs-PyTorch comparison -> rename.
Any failure removes the temp file, so a `.dfm` on disk has always passed verification.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neuface.atomic import atomic_path
from neuface.console import make_progress, warn
from neuface.errors import NeufaceError, UsageError
from neuface.export import contract as C
from neuface.export.check import CheckReport, check_dfm
from neuface.export.faces import faces_batch
from neuface.export.onnx_graph import export_bytes
from neuface.export.provenance import Provenance
from neuface.export.verify import TOL_FP16, TOL_FP32, Verification, verify_dfm

if TYPE_CHECKING:
    from torch import nn

    from neuface.train import SAEHDModel

MIN_OPSET = 12


class ExportError(NeufaceError):
    """An export that failed its own verification (no `.dfm` was written)."""


@dataclass
class ExportResult:
    """What `export_dfm` wrote and how it verified."""

    path: Path
    report: CheckReport
    verification: Verification
    metadata: dict[str, str]
    fp16: bool
    seconds: float
    n_faces: int
    warnings: list[str] = field(default_factory=list)


def cpu_float_copy(model: nn.Module) -> nn.Module:
    """A CPU float32 eval copy; the caller's model (maybe on a GPU, mid-training) is never modified.

    Unwraps DistributedDataParallel/torch.compile wrappers, and rebuilds SAEHD from its dims on the CPU
    instead of deep-copying, so exporting at a backup never doubles the model on the GPU.
    """
    import torch

    inner = getattr(model, "module", model)
    inner = getattr(inner, "_orig_mod", inner)
    dims = getattr(inner, "dims", None)
    if dims is not None:
        try:
            with torch.device("cpu"):
                clone = type(inner)(dims)
        except TypeError:
            pass  # not rebuildable from its dims alone: deep-copied below
        else:
            clone.load_state_dict({k: v.detach().to("cpu", torch.float32) for k, v in inner.state_dict().items()})
            return clone.eval()
    return copy.deepcopy(inner).float().cpu().eval()


def _resolution(net: nn.Module, provenance: Provenance | None) -> int:
    dims = getattr(net, "dims", None)
    res = (provenance.resolution if provenance else 0) or int(getattr(dims, "resolution", 0) or 0)
    if not res:
        raise UsageError("cannot export: the model's resolution is unknown (pass a Provenance with resolution)")
    return int(res)


def export_dfm(model: SAEHDModel | nn.Module | str | os.PathLike[str], out_path: str | os.PathLike[str] | None = None,
               *, provenance: Provenance | None = None, fp16: bool = False, opset: int = C.EXPORT_OPSET,
               probe_faces: Sequence[np.ndarray] | None = None, name: str | None = None) -> ExportResult:
    """Export `model` to `out_path`, verified, atomically.

    `model`: a `SAEHDModel` (what the training loop holds: provenance comes from its options, iteration
    and `extra`; pass `name` for the model name), a bare SAEHD network (pass `provenance`), or a model
    folder path (loaded through `neuface.train.model_folder`; `name` picks the model).

    `out_path` defaults (for a model folder) to `<folder>/<name>_SAEHD_model.dfm`, DFL's name.

    `probe_faces`: HWC BGR uint8 face crops to verify on (the workspace's aligned faces; synthetic if
    none). `provenance` goes into `metadata_props` (read from the model folder when `model` is a path).
    Raises ExportError (and writes nothing) when the export fails its contract check or differs from
    PyTorch by more than 1e-4 (fp32) / 2e-2 (fp16).
    """
    t0 = time.perf_counter()
    if not MIN_OPSET <= opset <= C.MAX_OPSET:
        raise UsageError(f"--opset {opset}: DeepFaceLive's onnxruntime 1.15.1 needs {MIN_OPSET}..{C.MAX_OPSET} "
                         f"(default {C.EXPORT_OPSET})")
    import torch

    from neuface.export.source import is_saehd_model, load_for_export, provenance_of

    if is_saehd_model(model):
        provenance = provenance or provenance_of(model, name or "")
        model = model.net
    elif not isinstance(model, torch.nn.Module):
        model, loaded, default_out = load_for_export(Path(model), name)
        provenance = provenance or loaded
        out_path = out_path or default_out
    if out_path is None:
        raise UsageError("export_dfm: out_path is required when exporting an in-memory model")
    out_path = Path(out_path)
    notes: list[str] = []
    if out_path.suffix.lower() != ".dfm":
        notes.append(f"{out_path.name}: DeepFaceLive only lists files ending in .dfm")
    if provenance is not None and not provenance.is_whole_face:
        notes.append(f"face type {provenance.face_type!r} is not 'wf': DeepFaceLive frames faces as whole_face, "
                     "so this model only looks right after changing its face coverage setting")
    if opset > C.MAX_OPSET_NO_WARN:
        notes.append(f"opset {opset}: DirectML builds of DeepFaceLive document opset <= {C.MAX_OPSET_NO_WARN}")
    for n in notes:
        warn(n)

    net = cpu_float_copy(model)
    res = _resolution(net, provenance)
    faces = faces_batch(probe_faces or [], res)
    precision = "fp16" if fp16 else "fp32"
    meta = (provenance or Provenance(model_name=name or "", iteration=0, archi="", face_type="",
                                     resolution=res)).metadata(precision)
    tol = TOL_FP16 if fp16 else TOL_FP32

    from neuface.export.wrapper import reference_outputs

    with make_progress("step") as progress:
        task = progress.add_task(f"export {out_path.name}", total=4, rate="")
        reference = reference_outputs(net, faces)
        progress.update(task, advance=1, rate="reference")
        data = export_bytes(net, faces[:2], res, opset, fp16, meta)
        if len(data) > C.MAX_FILE_BYTES:
            raise ExportError(f"{out_path}: the model is {len(data)} bytes; a single-file .dfm must stay under 2 GiB")
        progress.update(task, advance=1, rate="exported")
        with atomic_path(out_path) as tmp:
            tmp.write_bytes(data)
            tmp.chmod(0o644)  # mkstemp's 0600 would make the .dfm unreadable to other users of a shared folder
            report = check_dfm(tmp, probe_images=[np.round(f * 255).astype(np.uint8) for f in faces[:2]])
            report.path = out_path
            if not report.ok:
                reasons = "; ".join(f"{f.topic}: {f.message}" for f in report.failures)
                raise ExportError(f"{out_path}: export failed the .dfm contract check, no .dfm written ({reasons})")
            progress.update(task, advance=1, rate="contract ok")
            ver = verify_dfm(tmp, faces, reference, tol)
            if not ver.ok:
                raise ExportError(f"{out_path}: export does not match the PyTorch model, no .dfm written "
                                  f"({'; '.join(ver.problems)})")
            progress.update(task, advance=1, rate="verified")
    warnings = notes + [f"{w.topic}: {w.message}" for w in report.warnings]
    return ExportResult(path=out_path, report=report, verification=ver, metadata=meta, fp16=fp16,
                        seconds=time.perf_counter() - t0, n_faces=len(faces), warnings=warnings)
