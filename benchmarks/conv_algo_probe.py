"""Would Winograd convolutions make the fp32 SAEHD step faster? 3x3 stride-1 convs are 93 % of LIAE-UD 128's
FLOPs; Winograd F(2,3) / F(4,3) do 2.25x / 4x fewer multiplications. Timed here against torch's own conv
(oneDNN direct, the baseline) in the same run, forward + backward, on the step's largest conv shapes.

    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        python benchmarks/conv_algo_probe.py        # as an AVX2-only CPU runs it

The Winograd conv is written in torch ops (tile unfold, transforms as einsums, one batched matmul per tile
position), so autograd gives its backward, in the Winograd domain too. Prints the max relative error against
the direct conv and the time ratio direct / Winograd (> 1: Winograd faster). Then, forward only, the
Winograd conv torch ships natively, NNPACK's (`torch._nnpack_spatial_convolution`: no backward), against
the same baseline.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

# Lavin & Gray 2016 transforms: input B^T, filter G, output A^T.
TRANSFORMS = {
    2: ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
         [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
         [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}
# (batch, in channels, side, out channels): LIAE-UD 128 batch 4 (src and dst stacked), ~19 GFLOP forward each
SHAPES = [(8, 1024, 8, 2048), (8, 512, 16, 512), (8, 256, 32, 256), (8, 128, 64, 128)]


def winograd_conv3x3(x: torch.Tensor, w: torch.Tensor, m: int) -> torch.Tensor:
    """3x3, stride 1, padding 1 convolution by Winograd F(m,3), differentiable."""
    bt, g, at = (torch.tensor(t, dtype=x.dtype) for t in TRANSFORMS[m])
    a = m + 2
    n, c, h, wd = x.shape
    th, tw = -(-h // m), -(-wd // m)
    tiles = F.pad(x, (1, 1 + tw * m - wd, 1, 1 + th * m - h)).unfold(2, a, m).unfold(3, a, m)
    v = torch.einsum("ij,nctsjk,lk->ilntsc", bt, tiles, bt).reshape(a * a, n * th * tw, c)
    u = torch.einsum("ij,kcjl,ml->imck", g, w, g).reshape(a * a, c, w.shape[0])
    prod = torch.bmm(v, u).reshape(a, a, n, th, tw, w.shape[0])
    y = torch.einsum("ij,jlntsk,ml->nktism", at, prod, at)
    return y.reshape(n, w.shape[0], th * m, tw * m)[:, :, :h, :wd]


def best_time(fn, reps: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def forward_backward_time(conv, x: torch.Tensor, w: torch.Tensor, grad: torch.Tensor, reps: int) -> float:
    """Best time of conv(x, w) forward plus its backward to both x and w."""

    def once() -> None:
        x.grad = w.grad = None
        conv(x, w).backward(grad)

    return best_time(once, reps)


def direct_conv3x3(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, w, padding=1)


def shape_row(n: int, c: int, side: int, k: int, reps: int) -> str:
    x = torch.randn(n, c, side, side, requires_grad=True)
    w = (torch.randn(k, c, 3, 3) * 0.02).requires_grad_()
    ref = direct_conv3x3(x, w)
    grad = torch.randn_like(ref)
    direct = forward_backward_time(direct_conv3x3, x, w, grad, reps)
    gflop = 3 * 2 * ref.numel() * c * 9 / 1e9
    row = f"{str((n, c, side, k)):<28}{direct * 1e3:>10.0f}{gflop / direct:>9.0f}"
    for m in TRANSFORMS:
        def conv(xx: torch.Tensor, ww: torch.Tensor, m: int = m) -> torch.Tensor:
            return winograd_conv3x3(xx, ww, m)

        with torch.no_grad():
            err = ((conv(x, w) - ref).abs().max() / ref.abs().max()).item()
        t = forward_backward_time(conv, x, w, grad, reps)
        row += f"{t * 1e3:>12.0f}{err:>9.1e}{direct / t:>6.2f}x"
    return row


@torch.no_grad()
def nnpack_row(n: int, c: int, side: int, k: int, reps: int) -> str:
    x, w, bias = torch.randn(n, c, side, side), torch.randn(k, c, 3, 3) * 0.02, torch.zeros(k)
    ref = F.conv2d(x, w, bias, padding=1)
    err = ((torch._nnpack_spatial_convolution(x, w, bias, [1, 1], [1, 1]) - ref).abs().max()
           / ref.abs().max()).item()
    direct = best_time(lambda: F.conv2d(x, w, bias, padding=1), reps)
    nnpack = best_time(lambda: torch._nnpack_spatial_convolution(x, w, bias, [1, 1], [1, 1]), reps)
    return f"{str((n, c, side, k)):<28}{direct * 1e3:>10.0f}{nnpack * 1e3:>10.0f}{err:>9.1e}{direct / nnpack:>6.2f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32; time = best of {args.reps}, "
          "forward + backward")
    print(f"{'shape (N, Cin, side, Cout)':<28}{'direct ms':>10}{'GFLOP/s':>9}" + "".join(
        f"{f'F({m},3) ms':>12}{'err':>9}{'ratio':>7}" for m in TRANSFORMS))
    for shape in SHAPES:
        print(shape_row(*shape, args.reps))
    if torch.backends.nnpack.is_available():
        print(f"\nforward only: NNPACK (native Winograd) vs oneDNN direct\n{'shape (N, Cin, side, Cout)':<28}"
              f"{'direct ms':>10}{'NNPACK ms':>10}{'err':>9}{'ratio':>7}")
        for shape in SHAPES:
            print(nnpack_row(*shape, args.reps))


if __name__ == "__main__":
    main()
