"""Sort throughput: faces/s per method on N aligned faces, all cores vs one process (the baseline).

    python benchmarks/sort_bench.py [--faces 2000] [--methods blur,hist,...] [--size 256] [--jobs N]
    python benchmarks/sort_bench.py --build-only DIR      # make the faces once (needs dlib) ...
    python benchmarks/sort_bench.py --faces-dir DIR       # ... and time on another machine

Builds N DFL aligned JPEGs (real faces: the dlib "johns" chips from ../shared/fixtures/real, with dlib
landmarks and stored identity vectors as `detect` writes them, varied by flips, brightness, contrast and
blur) in a temp folder, then times `plan_sort` (the metric pass plus the ordering, i.e. everything but the
renames) with one process (the baseline) and with one process per core. OpenCV is pinned to one thread in
both, so the ratio is the gain from the worker pool. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
JOHNS = REPO.parent / "shared" / "fixtures" / "real" / "identities" / "johns"


def build_faces(out: Path, count: int, size: int) -> list[Path]:
    from neuface.detect.backends.dlib_backend import DlibBackend
    from neuface.dfl.landmarks import mirror_landmarks
    from neuface.faceset.dfljpg import write_aligned_jpeg
    from neuface.faceset.meta import FaceMeta

    backend = DlibBackend()
    bases = []
    for chip in sorted(JOHNS.glob("*/*.jpg")):
        img = cv2.resize(cv2.imread(str(chip)), (size, size), interpolation=cv2.INTER_LINEAR)
        faces = backend.detect(img)
        if faces:
            bases.append((img, faces[0]))
    rng = random.Random(0)
    paths = []
    for i in range(count):
        img, face = bases[i % len(bases)]
        lm = face.landmarks.astype(np.float32)
        if rng.random() < 0.5:
            img, lm = img[:, ::-1].copy(), mirror_landmarks(lm, size)
        img = np.clip(img.astype(np.float32) * rng.uniform(0.7, 1.2) + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.5))
        scale = rng.uniform(1, 6)
        l, t, r, b = face.rect * scale
        meta = FaceMeta(face_type="whole_face", landmarks=lm, source_filename=f"{rng.randrange(10**5):05d}.png",
                        source_rect=np.array([l, t, r, b]).round().astype(np.int64))
        meta.extra["neuface_identity"] = face.embedding
        path = out / f"{i // 3:05d}_{i % 3}.jpg"
        write_aligned_jpeg(path, img, meta)
        paths.append(path)
    return sorted(paths)


def timed(method: str, paths: list[Path], jobs: int) -> float:
    from neuface.sort.options import SortOptions
    from neuface.sort.sorter import plan_sort

    t0 = time.perf_counter()
    plan_sort(paths, SortOptions(by=method, target=500, jobs=jobs))
    return time.perf_counter() - t0


def main() -> int:
    from neuface.console import set_verbosity
    from neuface.sort.methods import METHODS
    from neuface.sort.parallel import default_jobs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=2000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--methods", default=",".join(m.key for m in METHODS))
    ap.add_argument("--jobs", type=int, default=0, help="processes for the parallel run (default: one per core)")
    ap.add_argument("--build-only", type=Path, help="write the faces into this folder and exit")
    ap.add_argument("--faces-dir", type=Path, help="time on the faces already in this folder")
    args = ap.parse_args()
    set_verbosity(-1)
    cv2.setNumThreads(1)
    cores = args.jobs or default_jobs()
    if args.build_only:
        args.build_only.mkdir(parents=True, exist_ok=True)
        build_faces(args.build_only, args.faces, args.size)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="sort_bench_"))
    try:
        t0 = time.perf_counter()
        if args.faces_dir:
            paths = sorted(args.faces_dir.glob("*.jpg"))
        else:
            paths = build_faces(tmp, args.faces, args.size)
        print(f"{len(paths)} faces of {args.size}px ready in {time.perf_counter() - t0:.1f}s; {cores} processes",
              file=sys.stderr)
        print(f"| method | 1 process (faces/s) | {cores} processes (faces/s) | ratio |")
        print("|---|---:|---:|---:|")
        for key in args.methods.split(","):
            one = timed(key, paths, 1)
            many = timed(key, paths, cores)
            n = len(paths)
            print(f"| {key} | {n / one:.0f} | {n / many:.0f} | {one / many:.2f}x |", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
