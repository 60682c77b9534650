"""`neuface train --compile` on CPU (inductor + the system C++ compiler): trains like eager, saves the same
DFL files, and falls back to eager with a warning when the toolchain is broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from neuface.cli import main
from neuface.runtime import seed_everything
from neuface.train.model import build_model
from neuface.train.model_folder import find_model, load_model
from test_train_helpers import make_workspace

# The smallest SAEHD the options allow (resolution is clamped to 64): compiling stays around a minute.
SMALL = ["--resolution", "64", "--ae-dims", "16", "--e-dims", "8", "--d-dims", "8", "--d-mask-dims", "8",
         "--seed", "1", "--target-iter", "3"]

needs_cxx = pytest.mark.skipif(not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
                               reason="torch.compile on CPU needs a C++ compiler")


def _train(ws: Path, device: str, *extra: str) -> int:
    return main(["-w", str(ws), "--device", device, "--precision", "fp32", "-q", "train", *SMALL, *extra])


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("device", [pytest.param("cpu", marks=needs_cxx), pytest.param("cuda", marks=needs_cuda)])
def test_compiled_training_matches_eager_and_writes_the_same_files(dfl_fixtures: Path, tmp_path: Path, device: str):
    eager_ws = make_workspace(dfl_fixtures, tmp_path / "eager")
    compiled_ws = make_workspace(dfl_fixtures, tmp_path / "compiled")
    assert _train(eager_ws, device) == 0
    torch._dynamo.utils.counters.clear()
    assert _train(compiled_ws, device, "--compile") == 0
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # the networks really went through dynamo

    eager_files = sorted(p.relative_to(eager_ws) for p in (eager_ws / "model").rglob("*") if p.is_file())
    compiled_files = sorted(p.relative_to(compiled_ws) for p in (compiled_ws / "model").rglob("*") if p.is_file())
    assert compiled_files == eager_files  # same DFL layout, backup and .dfm included
    eager = load_model(find_model(eager_ws / "model"), device="cpu")
    compiled = load_model(find_model(compiled_ws / "model"), device="cpu")  # strict: every key, every shape
    assert compiled.iter == eager.iter == 3
    seed_everything(1)  # --seed 1 also fixed the initial weights: rebuild them to measure what 3 steps moved
    initial = build_model(eager.options, "cpu")
    # Same seed, same batches: inductor only reorders float arithmetic (TF32 on a GPU: looser).
    loss_tol, move_ratio = (1e-4, 0.01) if device == "cpu" else (1e-2, 0.05)
    for want, got in zip(eager.loss_history, compiled.loss_history, strict=True):
        assert abs(want[0] - got[0]) < loss_tol and abs(want[1] - got[1]) < loss_tol
    parts = zip(initial.weight_parts(), eager.weight_parts(), compiled.weight_parts(), strict=True)
    with torch.no_grad():
        for (name, p0), (_, pe), (_, pc) in parts:
            moved = torch.cat([(e - i).abs().flatten() for e, i in zip(pe.parameters(), p0.parameters(), strict=True)])
            apart = torch.cat([(c - e).abs().flatten() for c, e in zip(pc.parameters(), pe.parameters(), strict=True)])
            assert 0 < float(moved.max()) < 2e-3, name  # three small AdaBelief steps from the seeded start
            assert float(apart.mean()) < move_ratio * float(moved.mean()), name


def test_a_broken_compiler_falls_back_to_eager_with_a_warning(dfl_fixtures: Path, tmp_path: Path):
    ws = make_workspace(dfl_fixtures, tmp_path / "ws")
    env = dict(os.environ, CXX=str(tmp_path / "no-such-g++"), TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "neuface", "-w", str(ws), "--device", "cpu", "--precision", "fp32",
           "train", *SMALL, "--compile"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = " ".join((proc.stdout + proc.stderr).split())
    assert "--compile: torch.compile failed here" in out and "continuing without it" in out
    assert "Traceback" not in out
    assert load_model(find_model(ws / "model"), device="cpu").iter == 3
