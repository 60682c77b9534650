"""Faceset benchmark: pack/unpack throughput, opening a 60,000-face pak, random-access reads.

Run: `python benchmarks/faceset_bench.py [--faces 2000] [--big 60000]`. Faces are the DFL fixture faces
re-encoded with varied pixels and metadata (masks, polygons, identity vectors). Baselines measured in the
same run: a plain concatenation of the same files (pack), a plain file copy (unpack), and unpickling the
whole sample table as DFL's loader does (open).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from neuface.console import set_verbosity
from neuface.faceset import Faceset, dfljpg
from neuface.faceset.pak import PakEntry, PakReader, sample_config, write_pak
from neuface.pack import pack_faceset, unpack_faceset

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "dfl" / "aligned"


def make_faces(folder: Path, count: int) -> int:
    """`count` aligned faces re-encoded from the fixtures with varied pixels and metadata; returns bytes."""
    sources = [dfljpg.read_parsed(p) for p in sorted(FIXTURES.glob("*.jpg"))]
    images = [cv2.imread(str(p)) for p in sorted(FIXTURES.glob("*.jpg"))]
    rng = np.random.default_rng(0)
    total = 0
    for i in range(count):
        k = i % len(sources)
        meta = sources[k].meta.copy()
        meta.landmarks = meta.landmarks + rng.normal(0, 0.5, meta.landmarks.shape).astype(np.float32)
        meta.source_filename = f"{i // 3:05d}.png"
        if i % 3 == 0:
            meta.xseg_mask = sources[1].meta.xseg_mask
        if i % 4 == 0:
            meta.seg_ie_polys = sources[2].meta.seg_ie_polys
        if i % 2 == 0:
            meta.extra["neuface_identity"] = rng.normal(size=128).astype(np.float32)
        img = cv2.convertScaleAbs(images[k], alpha=1.0, beta=float(i % 21 - 10))
        path = folder / f"{i:05d}_0.jpg"
        dfljpg.write_aligned_jpeg(path, img, meta, quality=90)
        total += path.stat().st_size
    return total


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_pack_unpack(work: Path, count: int) -> None:
    aligned = work / "aligned"
    aligned.mkdir()
    t = time.perf_counter()
    nbytes = make_faces(aligned, count)
    print(f"made {count} faces ({nbytes / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s")
    os.sync()  # a real faceset has been on disk for a while (deleting never-flushed files is unusually cheap)
    files = sorted(aligned.iterdir())

    def concat() -> None:
        with open(work / "concat.bin", "wb") as out:
            for p in files:
                out.write(p.read_bytes())

    t_base = timed(concat)
    t_pack = timed(lambda: pack_faceset(aligned))
    copy_dir = work / "copy"
    copy_dir.mkdir()
    blobs = PakReader(aligned / "faceset.pak")
    names = [c["filename"] for c in blobs.configs()]

    def plain_copy() -> None:
        for i, name in enumerate(names):
            (copy_dir / name).write_bytes(blobs.blob(i))

    t_copy = timed(plain_copy)
    blobs.close()
    t_unpack = timed(lambda: unpack_faceset(aligned))
    t_keep = timed(lambda: pack_faceset(aligned, keep=True))  # the same pack without removing the loose files
    mb = nbytes / 1e6
    print(f"pack    {count / t_pack:8.0f} faces/s {mb / t_pack:7.1f} MB/s  "
          f"(baseline plain concatenation {mb / t_base:.1f} MB/s; ratio {t_base / t_pack:.2f}; "
          f"--keep, no deletes: {count / t_keep:.0f} faces/s)")
    print(f"unpack  {count / t_unpack:8.0f} faces/s {mb / t_unpack:7.1f} MB/s  "
          f"(baseline plain file copy {mb / t_copy:.1f} MB/s; ratio {t_copy / t_unpack:.2f})")


def bench_big_pak(work: Path, count: int, reads: int) -> None:
    """A synthetic `count`-entry pak of small real faces: open time, random reads."""
    src = dfljpg.read_parsed(FIXTURES / "Tom_Hanks_54745_0.jpg")
    img = cv2.resize(cv2.imread(str(FIXTURES / "Tom_Hanks_54745_0.jpg")), (64, 64))
    blob = dfljpg.encode_aligned_jpeg(img, src.meta)
    raw = src.meta.to_dict()
    entries = [PakEntry(sample_config(raw, f"{i:05d}.jpg", (64, 64, 3), None), len(blob), lambda: blob)
               for i in range(count)]
    pak_dir = work / "big"
    t = timed(lambda: write_pak(pak_dir / "faceset.pak", entries, verify=False))
    size = (pak_dir / "faceset.pak").stat().st_size
    print(f"wrote a synthetic {count}-face pak ({size / 1e6:.0f} MB) in {t:.1f} s")

    t_open = timed(lambda: Faceset.open(pak_dir).close())
    fs = Faceset.open(pak_dir)
    t_len = timed(lambda: len(fs))
    rng = random.Random(0)
    idx = [rng.randrange(count) for _ in range(reads)]
    reader = fs.reader
    t_reads = timed(lambda: [reader.blob(i) for i in idx])
    t_table = timed(lambda: fs.names())  # DFL's loader unpickles the whole table on open
    t_rec = timed(lambda: [fs[i].load_bytes() for i in idx])
    t_decode = timed(lambda: [fs[i].load_image() for i in idx[:2000]])
    print(f"open    {t_open * 1e3:8.2f} ms for {count} entries, len() {t_len * 1e6:.0f} us  "
          f"(baseline: unpickling the whole sample table as DFL does {t_table:.2f} s; ratio {t_table / t_open:.0f}x)")
    print(f"random  {reads / t_reads:8.0f} reads/s (reader.blob), {reads / t_rec:.0f} reads/s (fs[i].load_bytes), "
          f"{2000 / t_decode:.0f} decodes/s (fs[i].load_image, 64x64)")
    fs.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=2000)
    ap.add_argument("--big", type=int, default=60000)
    ap.add_argument("--reads", type=int, default=20000)
    args = ap.parse_args()
    set_verbosity(-1)
    work = Path(tempfile.mkdtemp(prefix="faceset_bench_"))
    try:
        bench_pack_unpack(work, args.faces)
        bench_big_pak(work, args.big, args.reads)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
