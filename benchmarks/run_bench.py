"""Benchmark: `neuface run` (one process, resumable) vs the same stages as one command each, same run.

    python benchmarks/run_bench.py [--target-iter N] [--device cpu|cuda]

Workload: the demo's two 30-frame clips and its tiny settings (64 px wf, smallest SAEHD dims).
Baseline: the DFL-script way, each stage a fresh `neuface <stage>` process in order (extract src/dst,
detect src/dst, pack src/dst, train --target-iter N, export). neuface run: `neuface run` once, on a
fresh copy of the same workspace. Also timed: a second `neuface run` with everything up to date (what a
resumed job pays to find its place). Prints wall times and the ratio run / per-stage commands.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def neuface(ws: Path, device: str, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "neuface", "-q", "-w", str(ws), "--device", device, *args], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target-iter", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from neuface.pipeline.demo import prepare_workspace

    with tempfile.TemporaryDirectory(prefix="run_bench_") as tmp:
        template = prepare_workspace(Path(tmp) / "template", args.target_iter).root
        per_stage, one_run = Path(tmp) / "per_stage", Path(tmp) / "one_run"
        shutil.copytree(template, per_stage)
        shutil.copytree(template, one_run)

        commands = [["extract", "src"], ["extract", "dst"], ["detect", "src"], ["detect", "dst"], ["pack", "src"],
                    ["pack", "dst"], ["train", "--target-iter", str(args.target_iter)], ["export"]]
        t_stages = sum(neuface(per_stage, args.device, *c) for c in commands)
        t_run = neuface(one_run, args.device, "run")
        t_resume = neuface(one_run, args.device, "run")

    print(f"workload: demo clips (2 x 30 frames, 256 px), 64 px wf SAEHD to iteration {args.target_iter}, "
          f"device {args.device}")
    print(f"per-stage commands (baseline): {t_stages:7.1f} s")
    print(f"neuface run:                   {t_run:7.1f} s   ratio run/baseline {t_run / t_stages:.2f}")
    print(f"neuface run again (all up to date): {t_resume:5.1f} s")


if __name__ == "__main__":
    main()
