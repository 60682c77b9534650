"""`neuface merge`: decode the dst video, merge every frame with the model, encode (or write PNGs), safely.

Flow per batch of frames: decode (FFmpeg threads) -> faces (stored alignments or detection) -> one batched
model call -> masks and paste-back on worker threads while the next batch runs through the model ->
label -> encoder / PNG writer, in frame order. Outputs appear only when complete: the video is written to
a temp file beside the target and renamed at the end, PNGs go to a staging folder that replaces
`--frames-dir` at the end (an old non-empty folder is kept as `<dir>_backup_<timestamp>` with `--force`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from neuface.atomic import atomic_path, staging_dir
from neuface.console import RateTracker, info, make_progress
from neuface.detect import LandmarkSmoother
from neuface.errors import UsageError, VideoError
from neuface.merge.encode import VideoSink, container_format
from neuface.merge.faces import choose_face_source, smooth_faces
from neuface.merge.merger import FrameMerger
from neuface.merge.models import ModelRunner, TorchRunner, describe, open_model
from neuface.merge.motion import assign_motion, set_motion_from_neighbours
from neuface.merge.options import MergeOptions
from neuface.merge.preview import preview_indices, write_preview
from neuface.merge.provenance import merge_metadata
from neuface.provenance import synthetic_media_text
from neuface.workspace import Side, Workspace

RESULT_NAME = "result.mp4"  # DFL's merged video name in the workspace


@dataclass
class MergeResult:
    video: Path | None
    frames_dir: Path | None
    preview: Path | None
    frames: int
    faces: int
    frames_with_faces: int
    seconds: float
    face_source: str
    model: str

    @property
    def frames_per_second(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def _chunks(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, n)):
        yield chunk


def _check_outputs(opts: MergeOptions, video: Path, out: Path | None) -> None:
    if out is not None:
        container_format(out)
        if out.resolve() == video.resolve():
            raise UsageError(f"--out {out}: is the dst video itself; choose another file")
        if out.exists() and not opts.force:
            raise UsageError(f"{out} exists: pass --force to replace it (or choose another --out)")
    fd = opts.frames_dir
    if fd is not None:
        if fd.exists() and not fd.is_dir():
            raise UsageError(f"--frames-dir {fd}: exists and is not a folder")
        if fd.is_dir() and any(fd.iterdir()) and not opts.force:
            raise UsageError(f"--frames-dir {fd} is not empty: pass --force (the old folder is kept as "
                             f"{fd.name}_backup_<timestamp>)")


@contextlib.contextmanager
def _video_sink(out: Path, video: Path, rate: Fraction | None, meta: dict[str, str], crf: int) -> Iterator[VideoSink]:
    with atomic_path(out) as tmp:
        sink = VideoSink(tmp, container_format(out), video, rate, meta, crf)
        ok = False
        try:
            yield sink
            ok = True
        finally:
            sink.close(ok)


@contextlib.contextmanager
def _frames_sink(final: Path, text: Mapping[str, str]) -> Iterator[Any]:
    from neuface.extract import FrameWriter, ImageFormat

    with staging_dir(final, prefix=".merge-") as tmp:
        with FrameWriter(tmp, ImageFormat.png, text=text) as writer:
            yield writer
            writer.finish()
        if final.is_dir() and any(final.iterdir()):
            os.replace(final, final.with_name(f"{final.name}_backup_{time.strftime('%Y%m%d_%H%M%S')}"))
        elif final.is_dir():
            final.rmdir()
        os.replace(tmp, final)


def _xseg_for(opts: MergeOptions, runner: ModelRunner, ws: Workspace) -> object | None:
    if not opts.needs_xseg:
        return None
    from neuface.errors import ModelFormatError
    from neuface.xseg import XSegMasker

    where = opts.xseg_dir or (Path(opts.model_dir) if isinstance(runner, TorchRunner) and opts.model_dir
                             else ws.model_dir)
    try:
        return XSegMasker.from_dir(where, device=opts.device, precision=opts.precision, batch_size=opts.batch_size)
    except ModelFormatError as exc:
        raise UsageError(f"--mask-mode {opts.mask_mode} needs an XSeg model: {exc} (pass --xseg-dir)") from exc


def run_merge(ws: Workspace, opts: MergeOptions) -> MergeResult:
    """Merge the dst video (`opts.video`, default the workspace's data_dst.*) with the model; see module doc."""
    from neuface.extract import VideoSource, resolve_video

    t0 = time.perf_counter()
    opts = opts.validated()
    video = resolve_video(ws, Side.dst, opts.video)
    out = opts.out
    if out is None and opts.frames_dir is None and not opts.preview:
        out = ws.root / RESULT_NAME
    if not opts.preview:
        _check_outputs(opts, video, out)
    runner = open_model(opts.dfm, opts.model_dir, ws.model_dir, name=opts.name, device=opts.device,
                        precision=opts.precision, batch_size=opts.batch_size, face_type=opts.face_type,
                        morph_factor=opts.morph_factor)
    info(f"merge {video.name} with {describe(runner)}")
    xseg = _xseg_for(opts, runner, ws)
    workers = opts.workers if opts.workers is not None else min(4, os.cpu_count() or 1)

    with contextlib.ExitStack() as stack:
        source = stack.enter_context(VideoSource(video))
        frames = source.frames()
        first = next(frames, None)
        if first is None:
            source.check_complete()
            raise VideoError(f"{video}: no frame could be decoded")
        face_source, why = choose_face_source(ws, opts.faces, source.info.frames, first.to_bgr(),
                                              backend=opts.backend, device=opts.device, max_faces=opts.max_faces)
        info(why)
        merger = stack.enter_context(FrameMerger(runner, opts, xseg, workers))
        decoded = itertools.chain([first], frames)
        if opts.preview:
            base = out or ws.root / RESULT_NAME
            path = opts.preview_file or base.with_name(f"{base.stem}_preview.png")
            return _preview(decoded, source, face_source, merger, opts, path, runner, why, t0)

        meta = merge_metadata(runner.name, runner.iteration, opts.label, video.name)
        sink = stack.enter_context(_video_sink(out, video, source.info.rate, meta, opts.crf)) if out else None
        frame_text = synthetic_media_text(runner.name, runner.iteration, f"frame merged from {video.name}")
        writer = stack.enter_context(_frames_sink(opts.frames_dir, frame_text)) if opts.frames_dir else None
        n_frames = n_faces = with_faces = 0
        rate = RateTracker("frames")
        pending: deque[tuple[list[Future[np.ndarray]], list[Fraction]]] = deque()

        def emit() -> None:
            nonlocal n_frames
            futures, times = pending.popleft()
            for fut, t in zip(futures, times, strict=True):
                img = fut.result()
                if sink is not None:
                    sink.write(img, t)
                if writer is not None:
                    writer.submit(img)
                n_frames += 1

        with make_progress("frames") as progress:
            task = progress.add_task(f"merge {video.name}", total=source.info.frames or None, rate="")
            # faces `detect --smooth` already smoothed are not smoothed twice (the lags would add up)
            smoother = (LandmarkSmoother(float(source.info.rate or 0), opts.smooth_strength)
                        if opts.smooth and not getattr(face_source, "smoothed", False) else None)

            def batches() -> Iterator[tuple[list[Any], list[np.ndarray], list[list[Any]]]]:
                for chunk in _chunks(decoded, opts.batch_size):
                    imgs = [np.ascontiguousarray(d.to_bgr()) for d in chunk]
                    yield chunk, imgs, face_source.faces([d.index for d in chunk], imgs)

            def smoothed(stream: Iterable[Any]) -> Iterator[Any]:
                for chunk, imgs, faces in stream:
                    yield chunk, imgs, smooth_faces(smoother, [d.index for d in chunk], faces)

            stream = batches()
            if opts.motion_blur:  # each batch waits for the next one's faces (motion looks one frame ahead)
                stream = assign_motion(stream, lambda b: b[2])
            # smoothed after the motion: the blur follows the video's own motion (DFL's estimate, from the
            # detected faces), not the filter's start-up lag; the new faces carry the motion over
            stream = smoothed(stream)
            for chunk, imgs, faces in stream:
                n_faces += sum(len(f) for f in faces)
                with_faces += sum(1 for f in faces if f)
                pending.append((merger.submit([d.index for d in chunk], imgs, faces), [d.time for d in chunk]))
                while len(pending) > 1:  # keep one batch pasting while the next one runs the model
                    emit()
                progress.update(task, completed=n_frames, rate=f"{rate.text(n_frames)}, {n_faces} faces")
            while pending:
                emit()
            progress.update(task, completed=n_frames, total=n_frames, rate=f"{rate.text(n_frames)}, {n_faces} faces")
        source.check_complete()
    result = MergeResult(out, opts.frames_dir, None, n_frames, n_faces, with_faces, time.perf_counter() - t0,
                         why, runner.label)
    info(f"merged {n_frames} frames ({with_faces} with faces, {n_faces} faces) in {result.seconds:.1f} s, "
         f"{result.frames_per_second:.1f} frames/s -> {', '.join(str(p) for p in (out, opts.frames_dir) if p)}")
    return result


def _preview(decoded: Iterable[Any], source: Any, face_source: Any, merger: FrameMerger, opts: MergeOptions,
             path: Path, runner: ModelRunner, why: str, t0: float) -> MergeResult:
    info_ = source.info
    total = info_.frames or (int(info_.duration * info_.rate) if info_.duration and info_.rate else 0)
    if total <= 0:
        raise VideoError(f"{source.path}: frame count unknown, cannot pick preview frames")
    want = preview_indices(total, opts.preview)
    # no --smooth here: preview frames are far apart, a temporal filter has nothing to work with
    # --motion-blur needs each preview frame's neighbours' faces too
    need = set(want) | ({i + d for i in want for d in (-1, 1)} if merger.opts.motion_blur else set())
    last = max(need)
    decoded_imgs: dict[int, np.ndarray] = {}
    for d in decoded:
        if d.index in need:
            decoded_imgs[d.index] = np.ascontiguousarray(d.to_bgr())
        if d.index >= last:
            break
    chosen = [(i, decoded_imgs[i]) for i in want if i in decoded_imgs]
    if not chosen:
        raise VideoError(f"{source.path}: none of the preview frames could be decoded")
    idx = [i for i, _ in chosen]
    before = [img.copy() for _, img in chosen]
    all_idx = sorted(decoded_imgs)
    by_index = dict(zip(all_idx, face_source.faces(all_idx, [decoded_imgs[i] for i in all_idx]), strict=True))
    if merger.opts.motion_blur:
        set_motion_from_neighbours(by_index, idx)
    faces = [by_index[i] for i in idx]
    after = [f.result() for f in merger.submit(idx, [img for _, img in chosen], faces)]
    write_preview(list(zip(before, after, strict=True)), path,
                  synthetic_media_text(runner.name, runner.iteration, "merge preview (before | after)"))
    n_faces = sum(len(f) for f in faces)
    info(f"preview of {len(chosen)} frames (#{', #'.join(map(str, idx))}, {n_faces} faces) -> {path}")
    return MergeResult(None, None, path, len(chosen), n_faces, sum(1 for f in faces if f),
                       time.perf_counter() - t0, why, runner.label)
