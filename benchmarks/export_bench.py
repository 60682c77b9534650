"""Per-frame latency of an exported LIAE-UD 224 `.dfm` (ae 256, other dims default) on CPU.

onnxruntime (full graph optimizations, CPU provider, batch 1 as DeepFaceLive runs it) for the fp32 and
fp16 exports, against the baseline: the same network in PyTorch eager (fp32, batch 1). Also counts the
Transpose nodes at the NHWC boundary and any back-to-back Transpose pairs (redundant), before and after
onnxruntime's optimizations. Each timing runs in its own process: several sessions in one process give
bimodal timings on 2 vCPUs.

    python benchmarks/export_bench.py [--runs 40] [--res 224]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIMS = {"ae_dims": 256, "e_dims": 64, "d_dims": 64, "d_mask_dims": 22}


def build_net(res: int):
    import torch

    from neuface.train.nn import build_saehd

    torch.manual_seed(0)
    return build_saehd(res, "liae-ud", DIMS["ae_dims"], DIMS["e_dims"], DIMS["d_dims"], DIMS["d_mask_dims"]).eval()


def frame(res: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((1, res, res, 3), dtype=np.float32)


def time_onnx(path: str, runs: int) -> list[float]:
    from neuface.runtime import ort_session

    sess = ort_session(path, device="cpu")
    res = sess.get_inputs()[0].shape[1]
    x = frame(res)
    for _ in range(5):
        sess.run(None, {"in_face:0": x})
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"in_face:0": x})
        out.append(time.perf_counter() - t)
    return out


def time_torch(res: int, runs: int) -> list[float]:
    import torch

    from neuface.export.wrapper import DfmWrapper

    model = DfmWrapper(build_net(res)).eval()
    x = torch.from_numpy(frame(res))
    out = []
    with torch.inference_mode():
        for _ in range(5):
            model(x)
        for _ in range(runs):
            t = time.perf_counter()
            model(x)
            out.append(time.perf_counter() - t)
    return out


def transposes(model) -> dict[str, int]:
    """Transposes touching the graph input/outputs, all Transposes, and Transpose->Transpose pairs."""
    graph = model.graph
    ends = {i.name for i in graph.input} | {o.name for o in graph.output}
    producer = {o: n for n in graph.node for o in n.output}
    for n in graph.node:  # fp16 exports put a Cast between the boundary and its Transpose
        if n.op_type == "Cast" and (n.input[0] in ends or n.output[0] in ends):
            ends |= {n.input[0], n.output[0]}
    tr = [n for n in graph.node if n.op_type == "Transpose"]
    return {
        "boundary": sum(1 for n in tr if n.input[0] in ends or any(o in ends for o in n.output)),
        "total": len(tr),
        "back_to_back": sum(1 for n in tr if n.input[0] in producer and producer[n.input[0]].op_type == "Transpose"),
        "nodes": len(graph.node),
    }


def ort_optimized(path: str, out: str):
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.optimized_model_filepath = out
    opts.log_severity_level = 3  # the "hardware specific optimizations" notice is expected here
    ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    return onnx.load(out)


def _child(args: argparse.Namespace) -> None:
    times = time_onnx(args.onnx, args.runs) if args.onnx else time_torch(args.res, args.runs)
    print(json.dumps(times))


def _run_child(extra: list[str], runs: int, res: int) -> list[float]:
    cmd = [sys.executable, __file__, "--child", "--runs", str(runs), "--res", str(res), *extra]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--res", type=int, default=224)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--onnx", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return

    import onnx

    from neuface.console import set_verbosity
    from neuface.export.dfm import export_dfm
    from neuface.export.provenance import Provenance

    set_verbosity(-1)
    net = build_net(args.res)
    n_params = sum(p.numel() for p in net.parameters())
    prov = Provenance("bench", 0, "liae-ud", "wf", args.res)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for fp16 in (False, True):
            name = "fp16" if fp16 else "fp32"
            t = time.perf_counter()
            res = export_dfm(net, Path(tmp) / f"bench_{name}.dfm", provenance=prov, fp16=fp16)
            files[name] = (str(res.path), time.perf_counter() - t, max(res.verification.max_abs_diff.values()))
        torch_ms = statistics.median(_run_child([], args.runs, args.res)) * 1e3
        print(f"LIAE-UD {args.res}, {DIMS}, {n_params:,} parameters; batch 1, median of {args.runs} runs, "
              "each timing in its own process")
        print(f"baseline PyTorch eager fp32: {torch_ms:.1f} ms/frame")
        for name, (path, export_s, diff) in files.items():
            ms = statistics.median(_run_child(["--onnx", path], args.runs, args.res)) * 1e3
            graph = transposes(onnx.load(path))
            opt = transposes(ort_optimized(path, str(Path(tmp) / f"opt_{name}.onnx")))
            size = Path(path).stat().st_size / 2**20
            rows.append((name, ms))
            print(f"onnxruntime {name}: {ms:.1f} ms/frame = {ms / torch_ms:.2f}x PyTorch eager | "
                  f"export+verify {export_s:.1f} s, {size:.0f} MiB, max diff vs PyTorch {diff:.1e} | "
                  f"graph: {graph['nodes']} nodes, Transpose at NHWC boundary {graph['boundary']}, "
                  f"total {graph['total']}, back-to-back {graph['back_to_back']}; after ORT optimization: "
                  f"{opt['nodes']} nodes, Transpose boundary {opt['boundary']}, total {opt['total']}, "
                  f"back-to-back {opt['back_to_back']}")


if __name__ == "__main__":
    main()
