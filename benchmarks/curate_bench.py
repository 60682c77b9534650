"""Speed of `neuface curate` scoring: a 10,000-face faceset (real faces repeated) on all cores.

    python benchmarks/curate_bench.py [--faces 10000] [--source ALIGNED_DIR] [--jobs 0]

Without --source, a small labelled set of real faces is generated first (benchmarks/curate_labelled.py)
and hard-linked over and over into a temp folder. Prints the wall time of `score_faceset` (all signals,
judging included) and the ratio against scoring the faces one at a time in one process (measured on a
sample of --baseline faces and scaled up). Goal: 10,000 faces under 2 minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def fill(src: Path, dst: Path, n: int) -> None:
    """`n` faces in `dst`, hard links to (or copies of) the faces of `src` in turn."""
    faces = sorted(p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    dst.mkdir(parents=True)
    for i in range(n):
        f = faces[i % len(faces)]
        target = dst / f"{i:06d}{f.suffix}"
        try:
            os.link(f, target)
        except OSError:
            target.write_bytes(f.read_bytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=10_000)
    ap.add_argument("--source", type=Path, help="aligned faces to repeat (default: generate a labelled set)")
    ap.add_argument("--jobs", type=int, default=0, help="worker processes (0: one per core)")
    ap.add_argument("--baseline", type=int, default=300, help="faces scored one at a time for the ratio")
    args = ap.parse_args()

    from neuface.curate.options import CurateOptions
    from neuface.curate.score import judge, score_faceset
    from neuface.curate.signals import measure_face
    from neuface.faceset.faceset import Faceset
    from neuface.sort.parallel import default_jobs

    with tempfile.TemporaryDirectory() as tmp:
        src = args.source
        if src is None:
            from curate_labelled import build

            build(Path(tmp) / "set", 100, 2)
            src = Path(tmp) / "set" / "aligned"
        aligned = Path(tmp) / "bench" / "aligned"
        fill(src, aligned, args.faces)
        jobs = args.jobs or default_jobs()
        with Faceset.open(aligned) as fs:
            t0 = time.perf_counter()
            verdicts = score_faceset(fs, CurateOptions(jobs=jobs))
            wall = time.perf_counter() - t0
            k = min(args.baseline, len(fs))
            measure_face(fs[0].load_bytes(), str(fs[0].path))  # load the dlib models first, as each worker does
            t0 = time.perf_counter()
            measures = [measure_face(fs[i].load_bytes(), str(fs[i].path)) for i in range(k)]
            judge(fs.names()[:k], measures, CurateOptions())
            one = (time.perf_counter() - t0) / k * len(fs)
        flagged = sum(1 for v in verdicts if v.primary)
        print(f"{len(verdicts)} faces, {jobs} workers: {wall:.1f} s ({len(verdicts) / wall:.0f} faces/s), "
              f"{flagged} flagged")
        print(f"one at a time in one process: {one:.1f} s (estimated from {k} faces); ratio {one / wall:.2f}x")
        print(f"goal (10,000 faces < 120 s): {'met' if wall * 10_000 / len(verdicts) < 120 else 'NOT met'}")


if __name__ == "__main__":
    main()
