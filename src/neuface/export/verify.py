"""Compare an exported `.dfm` with the PyTorch model it came from, on real face crops.

The contract checker proves the file is shaped right; this proves it computes the right thing: every
output within tolerance of PyTorch, and each output closest to the PyTorch output it is meant to be
(a swapped pair of masks has the right shapes but shows garbage in DeepFaceLive).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from neuface.export import contract as C

TOL_FP32 = 1e-4
TOL_FP16 = 2e-2


@dataclass
class Verification:
    """Per-output max abs difference vs PyTorch, the tolerance, and any problem found."""

    max_abs_diff: dict[str, float] = field(default_factory=dict)
    tolerance: float = TOL_FP32
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_dfm(path: str | os.PathLike[str], faces: np.ndarray) -> list[np.ndarray]:
    """onnxruntime (CPU) outputs for an NHWC float32 batch, in graph-output order."""
    from neuface.runtime import ort_session

    sess = ort_session(path, device="cpu")
    return [np.asarray(o) for o in sess.run(None, {C.INPUT_FACE: np.ascontiguousarray(faces, np.float32)})]


def _order_problems(outs: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> list[str]:
    """Each output must be nearer its own reference than any other same-shaped reference."""
    problems = []
    for i, out in enumerate(outs):
        dists = {j: float(np.abs(out - ref).mean()) for j, ref in enumerate(reference) if ref.shape == out.shape}
        nearest = min(dists, key=dists.__getitem__) if dists else None
        if nearest is not None and nearest != i and dists[nearest] < dists.get(i, np.inf):
            problems.append(f"output {i} ({C.OUTPUTS[i].name}) holds what belongs in output {nearest} "
                            f"({C.OUTPUTS[nearest].name}): outputs are out of order")
    return problems


def compare_outputs(outs: Sequence[np.ndarray], reference: Sequence[np.ndarray], tolerance: float) -> Verification:
    """Shapes, per-output max abs difference, and semantic order of `outs` vs the PyTorch `reference`."""
    ver = Verification(tolerance=tolerance)
    if len(outs) != len(reference):
        ver.problems.append(f"{len(outs)} outputs, PyTorch gives {len(reference)}")
        return ver
    for spec, out, ref in zip(C.OUTPUTS, outs, reference, strict=True):
        if out.shape != ref.shape:
            ver.problems.append(f"{spec.name} has shape {out.shape}, PyTorch gives {ref.shape}")
            continue
        diff = float(np.abs(out.astype(np.float64) - ref.astype(np.float64)).max())
        ver.max_abs_diff[spec.name] = diff
        if not np.isfinite(diff) or diff > tolerance:
            ver.problems.append(f"{spec.name} differs from PyTorch by {diff:.3g} (> {tolerance:g})")
    if not ver.problems:
        ver.problems += _order_problems(outs, reference)
    return ver


def verify_dfm(path: str | os.PathLike[str], faces: np.ndarray, reference: Sequence[np.ndarray],
               tolerance: float) -> Verification:
    """Run the file on `faces` (NHWC float32, a batch: also exercises the dynamic batch) and compare."""
    try:
        outs = run_dfm(path, faces)
    except Exception as exc:
        return Verification(tolerance=tolerance, problems=[f"onnxruntime failed on a batch of {len(faces)}: "
                                                           f"{str(exc).splitlines()[0] if str(exc) else exc!r}"])
    return compare_outputs(outs, reference, tolerance)
