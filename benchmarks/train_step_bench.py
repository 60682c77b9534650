"""One full SAEHD training step (forward src/dst, losses, backward, AdaBelief) of LIAE-UD res 128, batch 4,
default dims, on random inputs; compared with DFL's TensorFlow step and with a plain fp32 neuface step
(eager, unfused optimizer) measured in the same run.

    python benchmarks/train_step_bench.py [--steps 10] [--warmup 3] [--device cpu] [--skip-baseline]
    python benchmarks/train_step_bench.py --processes 5 --skip-baseline   # median and spread over 5 fresh processes
    python benchmarks/train_step_bench.py --flops --precision fp32        # how close the step is to the CPU's peak
    python benchmarks/train_step_bench.py --tf-python /tmp/tfv/bin/python # DFL's step timed in the same run

DFL's step: with `--tf-python` (a Python with tensorflow-cpu; see tf_saehd_step.py) it is DFL's graph rebuilt
in TensorFlow and timed on this machine in the same run (with `--processes`, alternating with neuface's
processes, each side's spread reported); without it, the figure recorded on an Intel Xeon VM
(../shared/fixtures/models/timing_saehd_liae_ud_128_bs4_cpu.json), comparable only across machines.

The header names the CPU and its features (AVX2 / AVX-512 / AMX / bf16) and the precision `auto` picks: on
AVX2-only CPUs that is fp32, on AVX512-BF16/AMX ones bf16. `--keep-denormals` turns off the flush-to-zero
`runtime.configure_backends` sets on CPUs, to measure what it is worth. `--flops` counts the step's
floating-point work (torch's FlopCounterMode, forward and backward) and compares the step's rate with one
large convolution timed in the same run (the rate oneDNN reaches on this CPU at this precision): a step near
that rate is compute-bound, and only less work or a faster number format can make it faster.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

import dfl_baseline
from neuface.runtime import (
    autocast,
    choose_precision,
    configure_backends,
    cpu_description,
    resolve_device,
    synchronize,
)
from neuface.train.model import build_model
from neuface.train.options import SAEHDOptions
from neuface.train.step import SAEHDBatch, SAEHDTrainer


def make_batch(res: int, batch: int, seed: int = 0) -> SAEHDBatch:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    ellipse = ((xx / 0.7) ** 2 + (yy / 0.85) ** 2 < 1).float().expand(batch, 1, res, res).contiguous()
    img = [torch.rand(batch, 3, res, res, generator=g) for _ in range(4)]
    em = torch.zeros_like(ellipse)
    return SAEHDBatch(img[0], img[1], ellipse, em, img[2], img[3], ellipse.clone(), em.clone())


def time_steps(precision: str, fused: bool, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """Wall seconds and process CPU seconds per timed step (CPU time is robust to other jobs' load)."""
    device = resolve_device(args.device)
    configure_backends(device)
    if args.keep_denormals:
        torch.set_flush_denormal(False)
    torch.manual_seed(0)
    options = SAEHDOptions.default(resolution=args.res, batch_size=args.batch)
    model = build_model(options, device)
    model.src_dst_opt.fused = fused
    trainer = SAEHDTrainer(model, choose_precision(device, precision), channels_last=args.channels_last and fused)
    batch = make_batch(args.res, args.batch).to(device, channels_last=args.channels_last and fused)
    times, cpu = [], []
    for i in range(args.warmup + args.steps):
        synchronize(device)
        t0, c0 = time.perf_counter(), time.process_time()
        trainer.train_step(batch)
        synchronize(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return times, cpu


def summary(name: str, measured: tuple[list[float], list[float]]) -> tuple[float, float]:
    times, cpu = measured
    med, cmed = statistics.median(times), statistics.median(cpu)
    print(f"{name}: median {med:.3f} s, min {min(times):.3f} s, mean {statistics.fmean(times):.3f} s "
          f"over {len(times)} steps; CPU time median {cmed:.3f} s/step ({os.getloadavg()[0]:.1f} load)")
    return med, cmed


def fresh_processes(args: argparse.Namespace) -> None:
    """The neuface step's median in N fresh processes, one after another: what one run of a user sees.
    With a TensorFlow Python, DFL's step runs in a fresh process before each of them, so both see the
    same machine state."""
    import subprocess
    import sys

    child = [sys.executable, __file__, "--json", "--steps", str(args.steps), "--warmup", str(args.warmup),
             "--res", str(args.res), "--batch", str(args.batch), "--device", args.device, "--precision",
             args.precision] + (["--keep-denormals"] if args.keep_denormals else []) + (
             ["--channels-last"] if args.channels_last else [])
    tf_python = dfl_baseline.tf_python(args.tf_python)
    medians, tf_medians = [], []
    for i in range(args.processes):
        if tf_python:
            tf_medians.append(dfl_baseline.tf_step(tf_python, args.res, args.batch, args.steps, args.warmup)["median"])
        out = subprocess.run(child, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        medians.append(json.loads(out)["median"])
        print(f"process {i + 1}: neuface median {medians[-1]:.3f} s/step"
              + (f", DFL's TensorFlow step {tf_medians[-1]:.3f} s" if tf_medians else ""), flush=True)
    med = spread_line("neuface step", medians)
    print(f"load average {os.getloadavg()[0]:.1f}")
    if tf_medians:
        tf_med = spread_line("DFL's TensorFlow step", tf_medians)
        print(dfl_baseline.ratio_line(med, tf_med, "DFL's TensorFlow step measured in this run"))
    elif (dfl := dfl_baseline.recorded(args.res, args.batch)) and args.device == "cpu":
        print(dfl_baseline.ratio_line(med, dfl, f"DFL's recorded median {dfl:.3f} s (another machine)"))


def spread_line(label: str, medians: list[float]) -> float:
    """Prints the median, range and spread (largest distance from the median, % of it); returns the median."""
    med = statistics.median(medians)
    spread = max(abs(m - med) for m in medians) / med
    print(f"{label} over {len(medians)} fresh processes: median {med:.3f} s, min {min(medians):.3f} s, "
          f"max {max(medians):.3f} s, spread +-{spread * 100:.1f} % of the median (goal <= 10 %)")
    return med


def flops_report(args: argparse.Namespace, step_s: float) -> None:
    """The step's GFLOP (counted), its GFLOP/s, and a same-run reference convolution's GFLOP/s."""
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    device = resolve_device(args.device)
    precision = choose_precision(device, args.precision)
    model = build_model(SAEHDOptions.default(resolution=args.res, batch_size=args.batch), device)
    model.src_dst_opt.fused = False  # the counter traces eager ops; fusing changes no arithmetic
    trainer = SAEHDTrainer(model, precision)
    batch = make_batch(args.res, args.batch).to(device)
    trainer.train_step(batch)
    with FlopCounterMode(display=False) as counter:
        trainer.train_step(batch)
    gflop = counter.get_total_flops() / 1e9
    # the reference: one 3x3 convolution of SAEHD's encoder/inter sizes, as the step runs it (same autocast)
    x, w = torch.randn(8, 512, 16, 16, device=device), torch.randn(512, 512, 3, 3, device=device)
    ref_gflop = 2 * 8 * 16 * 16 * 512 * 512 * 9 / 1e9
    with autocast(device, precision):
        for _ in range(3):
            F.conv2d(x, w, padding=1)
        synchronize(device)
        t, n = time.perf_counter(), 10
        for _ in range(n):
            F.conv2d(x, w, padding=1)
        synchronize(device)
    ref_rate = ref_gflop * n / (time.perf_counter() - t)
    rate = gflop / step_s
    print(f"work: {gflop:.1f} GFLOP per step (forward + backward) -> {rate:.0f} GFLOP/s at {step_s:.3f} s/step; "
          f"reference 3x3 conv 8x512x16x16 in the same run: {ref_rate:.0f} GFLOP/s; step / reference "
          f"{rate / ref_rate:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--res", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", help="for the neuface step: auto|fp32|bf16|fp16")
    ap.add_argument("--channels-last", action="store_true", help="channels-last memory format for the neuface step")
    ap.add_argument("--skip-baseline", action="store_true", help="skip the fp32 unfused step")
    ap.add_argument("--keep-denormals", action="store_true", help="do not flush denormals to zero")
    ap.add_argument("--processes", type=int, default=0,
                    help="run the neuface step in N fresh processes and report their medians' spread")
    ap.add_argument("--flops", action="store_true", help="count the step's GFLOP and compare with a reference conv")
    ap.add_argument("--tf-python", default=None,
                    help="a Python with tensorflow-cpu: time DFL's step in this run (default: $NEUFACE_TF_PYTHON)")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one child's result, for --processes
    args = ap.parse_args()
    device = resolve_device(args.device)
    chosen = choose_precision(device, args.precision).name
    if args.json:
        times, cpu = time_steps(args.precision, True, args)
        print(json.dumps({"median": statistics.median(times), "cpu": statistics.median(cpu)}))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"LIAE-UD res {args.res} batch {args.batch}; CPU {cpu_description()}; precision {args.precision} -> "
          f"{chosen}{'; denormals kept' if args.keep_denormals else ''}")
    if args.processes:
        fresh_processes(args)
        return
    fast, fast_cpu = summary(f"neuface step ({args.precision}, fused AdaBelief)",
                             time_steps(args.precision, True, args))
    if args.flops:
        flops_report(args, fast)
    if not args.skip_baseline:
        base, base_cpu = summary("baseline: neuface fp32, unfused AdaBelief", time_steps("fp32", False, args))
        print(f"ratio vs fp32 unfused baseline (same run): wall {fast / base:.2f}x, "
              f"CPU time {fast_cpu / base_cpu:.2f}x")
    if tf_python := dfl_baseline.tf_python(args.tf_python):
        tf = dfl_baseline.tf_step(tf_python, args.res, args.batch, args.steps, args.warmup)
        print(f"DFL's TensorFlow step (tf_saehd_step.py, TensorFlow {tf['tf_version']}, this run): "
              f"median {tf['median']:.3f} s, min {tf['min']:.3f} s over {len(tf['times'])} steps")
        print(dfl_baseline.ratio_line(fast, tf["median"], "DFL's TensorFlow step measured in this run"))
    elif (dfl := dfl_baseline.recorded(args.res, args.batch)) and args.device == "cpu":
        print(f"DFL's TensorFlow step (recorded on an Intel Xeon 2 vCPU VM, not this run): median {dfl:.3f} s")
        print(dfl_baseline.ratio_line(fast, dfl, "DFL's recorded median"))


if __name__ == "__main__":
    main()
