"""End-to-end training iterations/s (data pipeline included) vs the model step alone, same settings, same run.

    python benchmarks/train_bench.py                         # CPU: LIAE-UD res 128 batch 4 (the issue's setting)
    python benchmarks/train_bench.py --res 256 --batch 16 --device cuda --precision bf16   # GPU figures
    python benchmarks/train_bench.py --processes 5           # median and spread over 5 fresh processes
    python benchmarks/train_bench.py --processes 5 --tf-python /tmp/tfv/bin/python   # and DFL's step, same run

Baseline: `SAEHDTrainer.train_step` on one pre-built batch already on the device (model step only).
Measured: the training loop's path - loader worker processes (or the batched GPU warp) -> device -> step.
Blocks of both alternate so background load hits them alike; medians of per-iteration times are compared.
Also prints the loader's own rate (batches/s with no model running). Faces: the DFL fixture faces when
present, else synthetic ones (the loader's cost does not depend on image content).
With `--tf-python` (a Python with tensorflow-cpu, see tf_saehd_step.py) DFL's own step is timed too, in a
fresh process before each neuface one, and the end-to-end iteration is given as a ratio of it (the issue's
"<= 0.3x DFL's step in the same run").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import dfl_baseline
from neuface.runtime import (
    choose_precision,
    configure_backends,
    cpu_description,
    precision_reason,
    resolve_device,
    synchronize,
)
from neuface.train.data import (
    BatchMaker,
    FaceCache,
    SideAugment,
    build_cache,
    default_workers,
    finish_batch,
    make_loader,
)
from neuface.train.model import build_model
from neuface.train.options import SAEHDOptions
from neuface.train.step import SAEHDBatch, SAEHDTrainer
from neuface.train.warp import GpuWarper

FIXTURE_FACES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "dfl" / "aligned"


def synthetic_cache(n: int, res: int, seed: int = 0) -> FaceCache:
    import cv2

    rng = np.random.default_rng(seed)
    crops = np.empty((n, res, res, 3), np.uint8)
    masks = np.zeros((n, res, res, 2), np.uint8)
    for i in range(n):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        crops[i] = cv2.resize(small, (res, res), interpolation=cv2.INTER_CUBIC)
        cv2.ellipse(masks[i, ..., 0], (res // 2, res // 2), (res // 3, res * 2 // 5), 0, 0, 360, 255, -1)
        cv2.circle(masks[i, ..., 1], (res // 2, res * 2 // 3), res // 10, 255, -1)
    return FaceCache(crops, masks, rng.uniform(-0.5, 0.5, n).astype(np.float32), [f"{i}.jpg" for i in range(n)])


def faces(res: int, face_type: str, n_synth: int) -> FaceCache:
    if FIXTURE_FACES.is_dir():
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp())
        for p in sorted(FIXTURE_FACES.glob("t1_*.jpg")):
            shutil.copyfile(p, tmp / p.name)
        try:
            return build_cache(tmp, res, face_type, "bench")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return synthetic_cache(n_synth, res)


def to_trainer_batch(b: dict) -> SAEHDBatch:
    s, d = b["src"], b["dst"]
    return SAEHDBatch(s["warped"], s["target"], s["target_m"], s["target_em"],
                      d["warped"], d["target"], d["target_m"], d["target_em"])


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--archi", default="liae-ud")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--iters", type=int, default=6, help="timed iterations per block")
    ap.add_argument("--blocks", type=int, default=2, help="alternating blocks of each")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--ct-mode", default=None)
    ap.add_argument("--processes", type=int, default=0,
                    help="measure in N fresh processes, one after another, and report the median and spread")
    ap.add_argument("--tf-python", default=None,
                    help="a Python with tensorflow-cpu: time DFL's step in this run (default: $NEUFACE_TF_PYTHON)")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one child's figures, for --processes
    return ap.parse_args()


def measure(args: argparse.Namespace) -> dict:
    """One process's figures: per-iteration times of the model step alone and end to end, the loader's rate."""
    dev = resolve_device(args.device)
    configure_backends(dev)
    prec = choose_precision(dev, args.precision)
    opts = SAEHDOptions.default(resolution=args.res, batch_size=args.batch, archi=args.archi, face_type="wf")
    model = build_model(opts, dev)
    trainer = SAEHDTrainer(model, precision=prec)
    cache = faces(opts.resolution, "wf", max(64, args.batch * 4))
    gpu = dev.type == "cuda"
    maker = BatchMaker(cache, cache, args.batch, 1, SideAugment(flip=False, ct_mode=args.ct_mode),
                       SideAugment(flip=True), gpu_geometry=gpu)
    warper = GpuWarper(dev) if gpu else None
    workers = args.workers if args.workers is not None else default_workers(dev.type)
    fixed = to_trainer_batch(finish_batch(maker.make(0), dev, warper))

    loader = make_loader(maker, 0, workers, pin_memory=gpu)
    for _ in range(args.warmup):  # compile the fused optimizer, warm the allocator and the workers
        trainer.train_step(fixed)
        trainer.train_step(to_trainer_batch(finish_batch(next(loader), dev, warper)))

    step_only: list[float] = []
    end_to_end: list[float] = []
    for _ in range(args.blocks):
        for _ in range(args.iters):
            synchronize(dev)
            t = time.perf_counter()
            trainer.train_step(fixed)
            synchronize(dev)
            step_only.append(time.perf_counter() - t)
        for _ in range(args.iters):
            synchronize(dev)
            t = time.perf_counter()
            trainer.train_step(to_trainer_batch(finish_batch(next(loader), dev, warper)))
            synchronize(dev)
            end_to_end.append(time.perf_counter() - t)

    n = max(20, args.iters * 4)
    t = time.perf_counter()
    for _ in range(n):
        finish_batch(next(loader), dev, warper)
    synchronize(dev)
    loader_rate = n / (time.perf_counter() - t)
    loader.close()
    name = torch.cuda.get_device_name(dev) if gpu else "CPU"
    setting = (f"device {name}, precision {prec.name}, {opts.archi} res {opts.resolution} batch {args.batch}, "
               f"ae {opts.ae_dims} e {opts.e_dims} d {opts.d_dims} dm {opts.d_mask_dims}, loader workers {workers}, "
               f"{'GPU batched warp' if gpu else 'CPU warp in workers'}, {len(cache)} faces")
    return {"setting": setting, "step_only": step_only, "end_to_end": end_to_end, "loader_rate": loader_rate}


def report(figures: dict, batch: int) -> float:
    """Prints one process's figures; returns the end-to-end median (seconds per iteration)."""
    step_only, end_to_end = figures["step_only"], figures["end_to_end"]
    s_med, e_med = statistics.median(step_only), statistics.median(end_to_end)
    print(figures["setting"])
    print(f"model step only (baseline): median {s_med * 1e3:.0f} ms/it ({1 / s_med:.2f} it/s), "
          f"min {min(step_only) * 1e3:.0f} ms")
    print(f"end to end (data pipeline included): median {e_med * 1e3:.0f} ms/it ({1 / e_med:.2f} it/s), "
          f"min {min(end_to_end) * 1e3:.0f} ms")
    loader_rate = figures["loader_rate"]
    print(f"loader alone: {loader_rate:.1f} batches/s ({loader_rate * batch * 2:.0f} samples/s)")
    ratio = e_med / s_med
    print(f"end-to-end / step-only time ratio: {ratio:.3f} (pipeline cost {100 * (ratio - 1):+.1f} %; goal <= +10 %)")
    return e_med


def spread(values: list[float]) -> tuple[float, float]:
    """(median, largest distance from it as a fraction of it): the issue's "within +-10 % of the median"."""
    med = statistics.median(values)
    return med, max(abs(v - med) for v in values) / med


def fresh_processes(args: argparse.Namespace) -> None:
    """The figures in N fresh processes one after another: what N separate runs of a user see."""
    child = [sys.executable, __file__, "--json", *sys.argv[1:]]
    tf_python = dfl_baseline.tf_python(args.tf_python)
    rows, tf_medians = [], []
    for i in range(args.processes):
        if tf_python:
            tf_medians.append(dfl_tf_median(tf_python, args))
        out = subprocess.run(child, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        fig = json.loads(out)
        rows.append((statistics.median(fig["step_only"]), statistics.median(fig["end_to_end"])))
        print(f"process {i + 1}: step only {rows[-1][0] * 1e3:.0f} ms/it, end to end {rows[-1][1] * 1e3:.0f} ms/it"
              + (f", DFL's TensorFlow step {tf_medians[-1] * 1e3:.0f} ms" if tf_medians else ""), flush=True)
    if rows:
        print(fig["setting"])
    series = [("model step only", [r[0] for r in rows]), ("end to end", [r[1] for r in rows])]
    if tf_medians:
        series.append(("DFL's TensorFlow step", tf_medians))
    medians = {}
    for label, values in series:
        med, frac = spread(values)
        medians[label] = med
        print(f"{label} over {len(values)} fresh processes: median {med * 1e3:.0f} ms/it, min {min(values) * 1e3:.0f}, "
              f"max {max(values) * 1e3:.0f}, spread +-{frac * 100:.1f} % of the median (goal <= 10 %)")
    print(f"load average {os.getloadavg()[0]:.1f}")
    if tf_medians:
        print(dfl_baseline.ratio_line(medians["end to end"], medians["DFL's TensorFlow step"],
                                      "DFL's TensorFlow step measured in this run, end to end"))


def dfl_tf_median(python: str, args: argparse.Namespace) -> float:
    """DFL's step (LIAE-UD, default dims) at this run's resolution and batch, in a fresh TensorFlow process."""
    if args.archi != "liae-ud":
        raise SystemExit("--tf-python: tf_saehd_step.py rebuilds LIAE-UD only; use --archi liae-ud")
    return dfl_baseline.tf_step(python, args.res, args.batch, args.iters * args.blocks, args.warmup)["median"]


def main() -> None:
    args = parse_args()
    if args.json:
        print(json.dumps(measure(args)))
        return
    dev = resolve_device(args.device)
    chosen = choose_precision(dev, args.precision)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU {cpu_description()}; "
          f"precision {args.precision} -> {chosen.name} ({precision_reason(dev, args.precision)})")
    if args.processes:
        fresh_processes(args)
    else:
        end_to_end = report(measure(args), args.batch)
        if tf_python := dfl_baseline.tf_python(args.tf_python):
            tf_med = dfl_tf_median(tf_python, args)
            print(f"DFL's TensorFlow step (tf_saehd_step.py, this run): median {tf_med * 1e3:.0f} ms")
            print(dfl_baseline.ratio_line(end_to_end, tf_med, "DFL's TensorFlow step measured in this run, end to end"))


if __name__ == "__main__":
    main()
