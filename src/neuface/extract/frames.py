"""`neuface extract`: one video -> numbered frame images in the workspace, safely.

Frames are decoded (PyAV, threaded), resampled by timestamp when `--fps` is given, turned upright, and
encoded on a thread pool into a staging folder inside the workspace. Only a complete, verified extraction
is moved into `data_src/` / `data_dst/`; any failure leaves the workspace as it was.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from neuface.atomic import remove_stale, staging_dir, stale_entries
from neuface.console import RateTracker, info, make_progress, warn
from neuface.errors import NeufaceError, UsageError
from neuface.extract.formats import ImageFormat
from neuface.extract.install import REPLACED_PREFIX, install_frames
from neuface.extract.sampling import TimestampSampler, expected_count
from neuface.extract.video import VideoSource
from neuface.extract.writer import FrameWriter
from neuface.workspace import Side, Workspace


@dataclass(frozen=True)
class ExtractResult:
    video: Path
    folder: Path
    count: int  # frames written
    width: int  # of the written (upright) frames
    height: int
    seconds: float
    replaced: int  # old frames replaced (with --force)

    @property
    def frames_per_second(self) -> float:
        return self.count / max(self.seconds, 1e-9)


def resolve_video(ws: Workspace, side: Side, video: Path | None) -> Path:
    """The VIDEO argument, else the single `data_<side>.*` video in the workspace, else the video the last
    `neuface run` used for this side (`run --dst B.mp4` then `merge` works without naming B.mp4 again)."""
    if video is not None:
        return Path(video)
    found = ws.video_candidates(side)
    stem = f"data_{Side(side).value}"
    last = ws.last_run_video(side) if not found else None
    if last is not None:
        if not last.is_file():
            raise UsageError(f"no VIDEO given; the last `neuface run` used {last} for {Side(side).value}, which "
                             "is gone: pass the video's path")
        info(f"no VIDEO given: using {last}, the {Side(side).value} video of the last `neuface run`")
        return last
    if not found:
        raise UsageError(f"no VIDEO given and no {stem}.* video in {ws.root}: pass the video's path, "
                         f"or put it at {ws.root / (stem + '.mp4')}")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise UsageError(f"several {stem} videos in {ws.root} ({names}): pass the one to use as VIDEO")
    return found[0]


STAGING_PREFIX = ".staging-"


def clear_leftovers(ws: Workspace, side: Side) -> None:
    """Remove the staging folder of an extraction that was killed (kill -9, power loss) before it finished.

    A killed run that was already moving frames into place also left a `.replaced-*` folder holding the old
    frames: that is user data, so it is kept and named in a warning instead.
    """
    dest = ws.frames_dir(side)
    replaced = stale_entries(ws.root, f"{REPLACED_PREFIX}{dest.name}.")
    if replaced:
        names = ", ".join(str(p) for p in replaced)
        warn(f"an interrupted `neuface extract {side.value}` left old frames in {names}; check {dest} and "
             "delete them when done")
        return  # its staging folder holds the rest of the new frames: keep it with them
    for path in remove_stale(ws.root, f"{STAGING_PREFIX}{dest.name}."):
        warn(f"removed {path.name}: the staging folder of an interrupted extraction")


def _decode_into(source: VideoSource, folder: Path, fps: float, fmt: ImageFormat,
                 workers: int | None, description: str) -> tuple[int, int, int]:
    """Decode, sample and write frames into `folder`; returns (count, width, height)."""
    info = source.info
    sampler = TimestampSampler(fps)
    total = expected_count(info.frames, info.duration, fps)
    rate = RateTracker("frames")
    width = height = 0
    with make_progress("frames") as progress, FrameWriter(folder, fmt, workers) as writer:
        task = progress.add_task(description, total=total, rate="")
        for decoded in source.frames():
            if not sampler.keep(decoded.time):
                continue
            image = decoded.to_bgr()
            height, width = image.shape[:2]
            writer.submit(image)
            progress.update(task, completed=writer.completed, rate=rate.text(writer.completed))
        source.check_complete()
        count = writer.finish()
        progress.update(task, completed=count, total=count, rate=rate.text(count))
    return count, width, height


def extract_frames(ws: Workspace, side: Side, video: Path | None = None, fps: float = 0.0,
                   fmt: ImageFormat = ImageFormat.png, force: bool = False,
                   workers: int | None = None) -> ExtractResult:
    """Extract `video` (default: the workspace's `data_<side>.*`) into the side's frames folder.

    Refuses when frames exist unless `force`; with `force` the old frames are replaced only after the
    new extraction succeeded. `fps` 0 keeps every frame.
    """
    side = Side(side)
    if not math.isfinite(fps) or fps < 0:
        raise UsageError(f"--fps {fps}: expected 0 (every frame) or a positive rate")
    path = resolve_video(ws, side, video)
    dest = ws.frames_dir(side)
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest}: exists and is not a folder")
    clear_leftovers(ws, side)
    old = ws.frame_files(side)
    if old and not force:
        raise UsageError(f"{dest} already holds {len(old)} frames: use --force to replace them")
    started = time.perf_counter()
    with VideoSource(path) as source:
        ws.root.mkdir(parents=True, exist_ok=True)
        try:
            with staging_dir(dest, prefix=STAGING_PREFIX) as staging:
                count, width, height = _decode_into(source, staging, fps, fmt, workers,
                                                    f"extract {side.value}")
                install_frames(staging, dest, old)
        except NeufaceError:
            raise
        except OSError as exc:
            raise NeufaceError(f"{dest}: cannot write frames ({exc.strerror or exc})") from exc
    if old:
        aligned = ws.aligned_dir(side)
        if aligned.is_dir() and any(aligned.iterdir()):
            warn(f"{aligned} still holds faces from the replaced frames; run `neuface detect {side.value}` again")
    return ExtractResult(video=path, folder=dest, count=count, width=width, height=height,
                         seconds=time.perf_counter() - started, replaced=len(old))
