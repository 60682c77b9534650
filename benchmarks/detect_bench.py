"""Benchmark `neuface detect`: the parallel pipeline vs a naive baseline, faces/s, same backend, same run.

Baseline: the same backend and per-frame work (decode, detect, landmarks, identity, warp, encode, write),
one frame at a time in one process. Pipeline: `run_detect` as the CLI runs it (a process pool across
cores on CPU, batches + decode/write threads on GPU). Worker start-up is included in the pipeline's time.
CPU-ms/face (this process plus its workers) shows the pipeline's overhead independently of other load on
the machine: on a shared machine the wall-clock ratio says little. The start-up of one pool worker (spawn,
imports, model load; paid once per worker, in parallel) is timed on its own so it can be read against the
pipeline's total.

    python benchmarks/detect_bench.py [--frames 354] [--backend dlib] [--video PATH] [--size WxH]
    python benchmarks/detect_bench.py --compare-1080p [--frames 12] [--device cpu|cuda] [--batch-size 8]

`--size 1920x1080` upscales the clip's frames to 1080p (for the GPU figure in the README).

`--compare-1080p`: the default backend (retinaface) against dlib HOG in the same run, one frame at a time
in one process, on 1920x1080 frames built from the real group photos (each photo filling the frame, faces
~100 px, and 2x2 grids of photos, faces ~50 px): frames/s and faces found by each (68 points included,
identity off). With `--device cuda` the default backend also runs batched (`detect_batch`).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2

from neuface.console import set_verbosity
from neuface.detect.options import DetectConfig
from neuface.detect.pipeline import FrameProcessor, cpu_cores, init_worker, make_backends, run_detect
from neuface.workspace import Side, Workspace

DEFAULT_VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real" / "talking_head_d3.mp4"


def write_frames(video: Path, folder: Path, count: int, size: tuple[int, int] | None) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            img = frame.to_ndarray(format="bgr24")
            if size:
                img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(folder / f"{n + 1:05d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            n += 1
            if n >= count:
                break
    return n


def cpu_seconds() -> float:
    """CPU time of this process plus its finished children (the pool's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def naive(frames: list[Path], cfg: DetectConfig, out: Path) -> tuple[int, float, float]:
    out.mkdir(parents=True)
    processor = FrameProcessor(make_backends(cfg), cfg, out, None)
    t0, c0 = time.perf_counter(), cpu_seconds()
    faces = sum(len(processor(p).faces) for p in frames)
    return faces, time.perf_counter() - t0, cpu_seconds() - c0


def _ready() -> bool:
    return True


def worker_startup(cfg: DetectConfig, out: Path) -> float:
    """Seconds until one spawned pool worker has its backend loaded and answers (as run_detect's workers)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    out.mkdir(parents=True)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker,
                             initargs=(cfg, out, None, False)) as pool:
        pool.submit(_ready).result()
        return time.perf_counter() - t0


GROUP_PHOTOS = DEFAULT_VIDEO.parent / "group_photos"


def _fit(img, w: int, h: int):
    """`img` scaled to fit (w, h), centred on black."""
    import numpy as np

    s = min(w / img.shape[1], h / img.shape[0])
    r = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_CUBIC)
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - r.shape[0]) // 2, (w - r.shape[1]) // 2
    out[y:y + r.shape[0], x:x + r.shape[1]] = r
    return out


def frames_1080p(count: int) -> list:
    """1920x1080 frames from the VOC group photos: one photo filling the frame, then a 2x2 grid, in turn."""
    import numpy as np

    photos = [cv2.imread(str(p)) for p in sorted(GROUP_PHOTOS.glob("20*.jpg"))]
    out = []
    for i in range(count):
        if i % 2 == 0:
            out.append(_fit(photos[(i // 2) % len(photos)], 1920, 1080))
        else:
            cells = [_fit(photos[(i + k) % len(photos)], 960, 540) for k in range(4)]
            out.append(np.vstack([np.hstack(cells[:2]), np.hstack(cells[2:])]))
    return out


def talking_1080p(count: int) -> list:
    """1920x1080 frames of a talking head (talking_head_d3.mp4 scaled up, one face): a typical face-swap clip."""
    import av

    frames = []
    with av.open(str(DEFAULT_VIDEO.parent / "talking_head_d3.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 10 == 0:
                frames.append(_fit(frame.to_ndarray(format="bgr24"), 1920, 1080))
            if len(frames) >= count:
                break
    return frames


def _rate(backend, frames: list, batch: int = 1) -> tuple[int, float]:
    """(faces found, frames/s); one warm-up frame first (session and model start-up are not the point)."""
    backend.detect_batch(frames[:batch])
    t0 = time.perf_counter()
    faces = 0
    for i in range(0, len(frames), batch):
        faces += sum(len(f) for f in backend.detect_batch(frames[i:i + batch]))
    return faces, len(frames) / (time.perf_counter() - t0)


def _boxes_rate(backend, frames: list) -> float:
    """Frames/s of the detector alone (boxes, RetinaFace's 5 points; no 68-point landmarker)."""
    from neuface.detect.backends.dlib_backend import to_rgb

    boxes = (lambda f: backend.detect_boxes(to_rgb(f))) if backend.name == "dlib" else (
        lambda f: backend.detect_boxes([f]))
    boxes(frames[0])
    t0 = time.perf_counter()
    for f in frames:
        boxes(f)
    return len(frames) / (time.perf_counter() - t0)


def compare_1080p(count: int, device: str, batch_size: int, landmarks: str = "auto") -> None:
    from neuface.detect.backends import DetectOptions, create_backend, registry

    opts = DetectOptions(with_embeddings=False)
    default = registry.resolve("auto")
    hog = create_backend("dlib", opts)
    ours = create_backend(default, opts, device="cpu", landmarker=landmarks)
    for scene, frames in (("group photos (~10 faces a frame)", frames_1080p(count)),
                          ("talking head (one face a frame)", talking_1080p(count))):
        print(f"{len(frames)} frames 1920x1080, {scene}, {cpu_cores()} cores, load average "
              f"{os.getloadavg()[0]:.1f}; default backend {default}, landmarks {landmarks}", flush=True)
        hog_faces, hog_fps = _rate(hog, frames)
        hog_boxes = _boxes_rate(hog, frames)
        print(f"  dlib HOG (CPU): {hog_faces} faces, {hog_fps:.2f} frames/s with 68 points, "
              f"{hog_boxes:.2f} frames/s detector only", flush=True)
        faces, fps = _rate(ours, frames)
        boxes = _boxes_rate(ours, frames)
        print(f"  {default} (CPU): {faces} faces, {fps:.2f} frames/s with 68 points = {fps / hog_fps:.2f}x dlib HOG; "
              f"{boxes:.2f} frames/s detector only = {boxes / hog_boxes:.2f}x (goal >= 3x while finding more faces)",
              flush=True)
        if device.startswith("cuda"):
            gpu = create_backend(default, opts, device=device, landmarker=landmarks)
            if not gpu.prefers_batches:
                print(f"  {default} on {device}: onnxruntime has no CUDA provider here (install onnxruntime-gpu)")
                return
            faces, fps = _rate(gpu, frames, batch_size)
            print(f"  {default} ({device}, batches of {batch_size}): {faces} faces, {fps:.2f} frames/s "
                  f"(68-point landmarks still on the CPU)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=None,
                    help="frames to use (default: the whole clip; 12 with --compare-1080p)")
    ap.add_argument("--backend", default="dlib")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--size", default=None, help="WxH to resize frames to, e.g. 1920x1080")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--compare-1080p", action="store_true", help="default backend vs dlib HOG on 1080p frames")
    ap.add_argument("--landmarks", default="auto", help="--compare-1080p: the default backend's landmarker")
    ap.add_argument("--batch-size", type=int, default=8, help="--compare-1080p on CUDA: frames per batch")
    args = ap.parse_args()
    if args.compare_1080p:
        set_verbosity(-1)
        compare_1080p(args.frames or 12, args.device, args.batch_size, args.landmarks)
        return 0
    size = tuple(int(v) for v in args.size.split("x")) if args.size else None
    set_verbosity(-1)
    with tempfile.TemporaryDirectory(prefix="detect-bench-") as tmp:
        ws = Workspace.at(Path(tmp) / "ws")
        n = write_frames(args.video, ws.frames_dir(Side.src), args.frames or 354, size)
        frames = sorted(ws.frames_dir(Side.src).glob("*.jpg"))
        cfg = DetectConfig(backend=args.backend, device=args.device, debug=False)
        print(f"{n} frames of {args.video.name}{f' at {args.size}' if size else ''}, backend {args.backend}, "
              f"{cpu_cores()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
        base_rate = None
        if not args.skip_naive:
            faces, secs, cpu = naive(frames, cfg, Path(tmp) / "naive")
            base_rate = faces / secs
            print(f"naive (1 process, 1 frame at a time): {faces} faces in {secs:.1f} s = {base_rate:.2f} faces/s, "
                  f"{n / secs:.2f} frames/s, {cpu / max(faces, 1) * 1000:.0f} CPU-ms/face", flush=True)
        if cpu_cores() > 1 and not args.skip_naive:
            print(f"one pool worker's start-up: {worker_startup(cfg, Path(tmp) / 'startup'):.2f} s", flush=True)
        c0 = cpu_seconds()
        result = run_detect(ws, Side.src, cfg)
        cpu = cpu_seconds() - c0
        rate = result.faces / result.seconds
        print(f"pipeline: {result.faces} faces in {result.seconds:.1f} s = {rate:.2f} faces/s, "
              f"{n / result.seconds:.2f} frames/s, {cpu / max(result.faces, 1) * 1000:.0f} CPU-ms/face "
              "(incl. worker start-up)")
        if base_rate:
            print(f"ratio pipeline/naive: {rate / base_rate:.2f}x (goal >= 1.7x on 2 idle cores; "
                  f"load average now {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
