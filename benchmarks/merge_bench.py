"""Merge throughput (frames/s) at 512x512: batched + threaded pipeline vs a one-frame-at-a-time baseline.

Both runs are the full `neuface merge` path on the same frames in the same process: decode, stored
alignments, model (.dfm through onnxruntime), masks, paste-back, label, H.264 encode with audio. The
baseline runs the model on one face at a time with no paste threads (batch 1, workers 0); the candidate
batches model calls and pastes on worker threads while the next batch runs through the model.

    python benchmarks/merge_bench.py [--frames 48] [--dfm FILE.dfm] [--device cpu|cuda] [--batch-size 8]

Without --dfm the SAEHD LIAE-UD 64 fixture weights are exported to a .dfm first. The workspace is built
with `neuface extract` + `neuface detect` (dlib) on the first N frames of talking_head_d0.mp4 (512x512).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"
sys.path.insert(0, str(REPO / "tests"))


def build_fixture_dfm(out: Path) -> Path:
    from neuface.dfl.weights import load_weight_file
    from neuface.export.dfm import export_dfm
    from neuface.export.provenance import Provenance
    from neuface.train.archi import parse_archi
    from neuface.train.nn import SAEHD, SAEHDDims

    net = SAEHD(SAEHDDims(64, parse_archi("liae-ud"), 64, 32, 32, 16))
    for part, module in net.parts():
        load_weight_file(module, part, FIXTURES / "models" / "saehd_liae_ud_64" / "weights" / f"ref_SAEHD_{part}.npy")
    export_dfm(net.eval(), out, provenance=Provenance("bench", 0, "liae-ud", "wf", 64))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--dfm", type=Path, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=None, help="paste threads (default: one per core, max 4)")
    ap.add_argument("--repeat", type=int, default=2, help="alternating runs of each; the best is reported")
    args = ap.parse_args()

    from neuface.cli import main as cli
    from neuface.console import set_verbosity
    from neuface.merge.options import MergeOptions
    from neuface.merge.pipeline import run_merge
    from neuface.workspace import Workspace
    from test_merge import _trim

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        _trim(FIXTURES / "real" / "talking_head_d0.mp4", root / "data_dst.mp4", args.frames)
        set_verbosity(-1)
        assert cli(["-q", "--workspace", str(root), "extract", "dst"]) == 0
        assert cli(["-q", "--workspace", str(root), "detect", "dst", "--backend", "dlib", "--no-debug"]) == 0
        dfm = args.dfm or build_fixture_dfm(Path(tmp) / "bench.dfm")
        ws = Workspace.at(root)

        def run(batch: int, workers: int | None, tag: str) -> float:
            opts = MergeOptions(out=Path(tmp) / f"{tag}.mp4", force=True, dfm=dfm, faces="stored", batch_size=batch,
                                workers=workers, device=args.device, blur=40, erode=8)
            res = run_merge(ws, opts)
            assert res.frames == args.frames
            return res.frames_per_second

        best = {"baseline": 0.0, "batched": 0.0}
        run(args.batch_size, args.workers, "warmup")
        for _ in range(args.repeat):
            best["baseline"] = max(best["baseline"], run(1, 0, "baseline"))
            best["batched"] = max(best["batched"], run(args.batch_size, args.workers, "batched"))
        t = time.strftime("%Y-%m-%d %H:%M")
        print(f"merge_bench {t}: {args.frames} frames 512x512, dfm {Path(dfm).name}, device {args.device}")
        print(f"  baseline (batch 1, no paste threads): {best['baseline']:.2f} frames/s")
        threads = args.workers if args.workers is not None else "auto"
        print(f"  batched  (batch {args.batch_size}, paste threads {threads}): {best['batched']:.2f} frames/s")
        print(f"  ratio: {best['batched'] / best['baseline']:.2f}x")


if __name__ == "__main__":
    main()
