"""Benchmark: frames/s of `neuface extract` vs the ffmpeg command line doing the same job, same run.

    python benchmarks/extract_bench.py [--video PATH] [--fps F] [--repeat N]

Baseline: `ffmpeg -i VIDEO -vf fps=F out_%05d.png` (what DFL's extract script runs), F = the video's
native rate unless --fps is given; neuface: `neuface extract src VIDEO` (every frame) or `--fps F`.
Both run as fresh processes writing PNGs into a temp folder; the best of N runs is compared.
ffmpeg comes from `imageio-ffmpeg` (pip install imageio-ffmpeg; not a neuface dependency) or PATH.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "talking_head_d3.mp4"


def find_ffmpeg() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except ImportError:
        exe = shutil.which("ffmpeg")
        if exe is None:
            sys.exit("no ffmpeg: pip install imageio-ffmpeg (or apt install ffmpeg)")
        return exe


def native_rate(video: Path) -> Fraction:
    import av

    with av.open(str(video)) as c:
        s = c.streams.video[0]
        return Fraction(s.average_rate or s.guessed_rate)


def timed(cmd: list[str], out: Path) -> tuple[float, int, int]:
    """Run `cmd` from scratch; returns (seconds, PNG files written, bytes written)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    dt = time.perf_counter() - t0
    files = list(out.rglob("*.png"))
    return dt, len(files), sum(f.stat().st_size for f in files)


def best_of(repeat: int, make_cmd) -> tuple[float, int, int]:
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="nf-bench-") as tmp:
            out = Path(tmp)
            runs.append(timed(make_cmd(out), out))
    return min(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--fps", type=float, default=0.0, help="0 = native rate (every frame)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ffmpeg = find_ffmpeg()
    rate = Fraction(args.fps).limit_denominator(100_000) if args.fps else native_rate(args.video)

    def ffmpeg_cmd(out: Path) -> list[str]:
        return [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(args.video),
                "-vf", f"fps={rate.numerator}/{rate.denominator}", str(out / "out_%05d.png")]

    def neuface_cmd(out: Path) -> list[str]:
        cmd = [sys.executable, "-m", "neuface", "-q", "--workspace", str(out / "ws"), "extract", "src",
               str(args.video)]
        return cmd + (["--fps", str(args.fps)] if args.fps else [])

    base_s, base_n, base_b = best_of(args.repeat, ffmpeg_cmd)
    nf_s, nf_n, nf_b = best_of(args.repeat, neuface_cmd)
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"video: {args.video.name} at {float(rate):.3f} fps; best of {args.repeat}; {version}")
    print(f"{'':10} {'frames':>7} {'seconds':>8} {'frames/s':>9} {'MiB':>7}")
    for name, s, n, b in (("ffmpeg", base_s, base_n, base_b), ("neuface", nf_s, nf_n, nf_b)):
        print(f"{name:10} {n:>7} {s:>8.2f} {n / s:>9.1f} {b / 2**20:>7.1f}")
    ratio = (nf_n / nf_s) / (base_n / base_s)
    print(f"ratio neuface/ffmpeg frames/s: {ratio:.2f} (goal >= 1.0)")


if __name__ == "__main__":
    main()
