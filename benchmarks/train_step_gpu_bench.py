"""SAEHD LIAE-UD training-step time on a CUDA GPU in fp32, tf32 and bf16, and the fraction of the card's
bf16 matrix peak reached (FLOPs counted by torch's FlopCounterMode; peak measured with a large bf16
matmul in the same run, and the datasheet figure given with --peak-tflops).

    python benchmarks/train_step_gpu_bench.py [--res 256] [--batch 16] [--steps 10] [--peak-tflops 989]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from neuface.runtime import Precision, configure_backends, resolve_device, synchronize
from neuface.train.model import build_model
from neuface.train.options import SAEHDOptions
from neuface.train.step import SAEHDBatch, SAEHDTrainer


def make_batch(res: int, batch: int, device: torch.device) -> SAEHDBatch:
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    mask = ((xx / 0.7) ** 2 + (yy / 0.85) ** 2 < 1).float().expand(batch, 1, res, res).contiguous()
    imgs = [torch.rand(batch, 3, res, res, generator=g) for _ in range(4)]
    em = torch.zeros_like(mask)
    return SAEHDBatch(imgs[0], imgs[1], mask, em, imgs[2], imgs[3], mask.clone(), em.clone()).to(device)


def matmul_peak(device: torch.device, n: int = 8192, reps: int = 10) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    synchronize(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    synchronize(device)
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


def run(mode: str, args: argparse.Namespace, device: torch.device) -> tuple[float, float]:
    tf32 = mode == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32  # benchmark-only switch: plain fp32 vs TF32 tensor cores
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    model = build_model(SAEHDOptions.default(resolution=args.res, batch_size=args.batch), device)
    model.src_dst_opt.fused = args.fused
    trainer = SAEHDTrainer(model, Precision("bf16" if mode == "bf16" else "fp32"))
    batch = make_batch(args.res, args.batch, device)
    for _ in range(args.warmup):
        trainer.train_step(batch)
    with FlopCounterMode(display=False) as counter:
        trainer.train_step(batch)
    flops = counter.get_total_flops()
    times = []
    for _ in range(args.steps):
        synchronize(device)
        t = time.perf_counter()
        trainer.train_step(batch)
        synchronize(device)
        times.append(time.perf_counter() - t)
    del model, trainer
    torch.cuda.empty_cache()
    return statistics.median(times), flops


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--modes", default="bf16,tf32,fp32")
    ap.add_argument("--fused", action="store_true", help="compile the optimizer update (slow first step)")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="datasheet dense bf16 peak (H100 SXM)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    configure_backends(device)
    print(f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, LIAE-UD res {args.res} "
          f"batch {args.batch} (default dims)", flush=True)
    peak = matmul_peak(device)
    print(f"measured bf16 matmul 8192^3: {peak:.0f} TFLOP/s; datasheet {args.peak_tflops:.0f}", flush=True)
    for mode in args.modes.split(","):
        med, flops = run(mode, args, device)
        rate = flops / med / 1e12
        print(f"{mode}: median step {med * 1e3:.1f} ms, {flops / 1e12:.2f} TFLOP/step, {rate:.0f} TFLOP/s = "
              f"{rate / args.peak_tflops:.1%} of datasheet bf16 peak, {rate / peak:.1%} of measured", flush=True)


if __name__ == "__main__":
    main()
