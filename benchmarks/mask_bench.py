"""`neuface mask` throughput: faces/s batched vs one face at a time (the baseline), same run, same faces.

    python benchmarks/mask_bench.py [--faces 32] [--batch 8] [--device cpu] [--precision auto]

Builds a folder of N aligned faces (copies of the DFL fixture faces) and runs the full apply (decode,
re-warp, XSeg, warp back, encode, atomic rewrite) twice: batch 1, then `--batch`. Uses the fixture's
XSeg weights (random-init, same network and cost as GenericXSeg).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from neuface.console import set_verbosity
from neuface.xseg.apply import apply_masks, locate_model
from neuface.xseg.model_files import WEIGHTS_NAME, save_weights
from neuface.xseg.net import XSeg

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def make_faceset(dst: Path, n: int, faces: Path) -> None:
    src = sorted(faces.glob("*.jpg"))
    dst.mkdir(parents=True)
    for i in range(n):
        p = dst / f"{i:05d}_{src[i % len(src)].stem}.jpg"
        shutil.copyfile(src[i % len(src)], p)
        p.chmod(0o644)


def run(aligned: Path, batch: int, device: str, precision: str, weights: Path) -> float:
    files = locate_model(weights, aligned)
    t0 = time.perf_counter()
    report = apply_masks(aligned, files, device=device, precision=precision, batch_size=batch)
    return report.masked / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--faces", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--faces-dir", type=Path, default=FIXTURES / "dfl" / "aligned")
    ap.add_argument("--weights", type=Path, default=None,
                    help="XSeg model folder (default: the fixture's; missing -> random DFL-init weights)")
    args = ap.parse_args()
    set_verbosity(-1)
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or FIXTURES / "models" / "xseg_256" / "weights"
        if not (weights / WEIGHTS_NAME).is_file():
            weights = Path(tmp) / "model"
            save_weights(XSeg(), weights / WEIGHTS_NAME)
        aligned = Path(tmp) / "aligned"
        make_faceset(aligned, args.faces, args.faces_dir)
        run(aligned, args.batch, args.device, args.precision, weights)  # warm-up (weights load, allocator)
        one = run(aligned, 1, args.device, args.precision, weights)
        batched = run(aligned, args.batch, args.device, args.precision, weights)
    print(f"device {args.device} ({torch.get_num_threads()} threads), {args.faces} faces, "
          f"precision {args.precision}")
    print(f"one at a time (baseline): {one:.2f} faces/s")
    print(f"batched ({args.batch}):        {batched:.2f} faces/s   ratio {batched / one:.2f}x")


if __name__ == "__main__":
    main()
