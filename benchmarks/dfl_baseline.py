"""DFL's training step as the baseline of the train benchmarks: measured in the same run when a Python with
TensorFlow is given (`--tf-python`, or the NEUFACE_TF_PYTHON variable), else the figure recorded in
../shared/fixtures/models/timing_saehd_liae_ud_128_bs4_cpu.json on another machine.

The same-run figure comes from `tf_saehd_step.py` (DFL's graph rebuilt in TensorFlow, checked against DFL's
own outputs) in a fresh child process with this process's environment, so an emulation such as
`ONEDNN_MAX_CPU_ISA=AVX2` holds TensorFlow's oneDNN to the same instructions as torch's.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
TF_STEP = HERE / "tf_saehd_step.py"
RECORDED = HERE.parents[0].parent / "shared/fixtures/models/timing_saehd_liae_ud_128_bs4_cpu.json"


def tf_python(given: str | None) -> str | None:
    """The Python to run TensorFlow with: the flag, else NEUFACE_TF_PYTHON, else none."""
    return given or os.environ.get("NEUFACE_TF_PYTHON") or None


def tf_step(python: str, res: int, batch: int, steps: int, warmup: int) -> dict:
    """One fresh TensorFlow process's timing of DFL's step (median, min, mean, times in seconds)."""
    cmd = [python, str(TF_STEP), "--json", "--res", str(res), "--batch", str(batch), "--steps", str(steps),
           "--warmup", str(warmup)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"{TF_STEP.name} failed under {python}: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def recorded(res: int, batch: int) -> float | None:
    """DFL's recorded median step (Intel Xeon, 2 vCPUs), for the setting it was recorded at only."""
    if res != 128 or batch != 4 or not RECORDED.is_file():
        return None
    return float(json.loads(RECORDED.read_text())["train_step_s"]["median"])


def ratio_line(neuface_s: float, dfl_s: float, what: str) -> str:
    return f"ratio vs {what}: {neuface_s / dfl_s:.2f}x (goal <= 0.30x)"
