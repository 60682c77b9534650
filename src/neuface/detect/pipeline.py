"""`neuface detect`: frames -> detect -> landmarks -> align -> JPEG with DFL metadata, in parallel.

On CPU a process pool runs whole frames (decode, detect, landmarks, identity, warp, encode, write) on
every core; on a GPU backend one process feeds the accelerator batches while thread pools decode frames
ahead and warp/encode/write behind it, so no stage waits on another. A frame with no upright face is
tried again rotated 90°, 270° and 180°, as DFL does (`neuface.detect.rotation`).

Safety: a non-empty `aligned/` is refused unless `force`, which first moves it (and `aligned_debug/`) to
`aligned_backup_<timestamp>/`; new faces go to a staging folder that replaces `aligned/` only when the run
completes, so `aligned/` never mixes old and new faces. `--redo-deleted-debug` re-runs only the frames
whose debug image the user deleted, moving those frames' old faces to the backup folder first.

The CPU pool uses the "spawn" start method (dlib and onnxruntime thread pools are not fork-safe), so a
script calling `run_detect` needs the usual `if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from neuface.atomic import atomic_write_bytes, staging_dir
from neuface.console import RateTracker, detail, info, make_progress, warn
from neuface.detect.backends import Backend, DetectOptions, create_backend, registry, resolve_backend
from neuface.detect.debug import DebugFace, draw_debug, encode_debug
from neuface.detect.faces import align_faces, select_faces
from neuface.detect.frames import FrameError, list_frames, load_frame
from neuface.detect.landmarks import resolve_landmarker
from neuface.detect.options import DetectConfig
from neuface.detect.rotation import ROTATIONS, rotate_frame, unrotate_face
from neuface.dfl.facetype import FaceType, face_type_name
from neuface.errors import UsageError
from neuface.workspace import IMAGE_EXTENSIONS, Side, Workspace

# With --workers 0 (auto), fewer frames than this run in one process (pool start-up would cost more).
MIN_FRAMES_FOR_POOL = 16


@dataclass
class FrameResult:
    frame: str
    faces: list[str] = field(default_factory=list)
    error: str | None = None
    detected: int = 0
    backend: str = ""


@dataclass
class DetectResult:
    frames: int
    faces: int
    no_face: list[str]
    unreadable: list[tuple[str, str]]
    seconds: float
    aligned_dir: Path
    backend: str
    backup_dir: Path | None = None


class FrameProcessor:
    """Everything done for one frame; `backends` are tried in order until one finds a face."""

    def __init__(self, backends: list[Backend], cfg: DetectConfig, out_dir: Path, debug_dir: Path | None):
        self.backends = backends
        self.cfg = cfg
        self.face_type = face_type_name(cfg.face_type)
        self.size = cfg.resolved_size()
        self.out_dir = out_dir
        self.debug_dir = debug_dir

    def detect(self, frame: np.ndarray, upright_done: bool = False):
        """(faces, backend that found them): each backend in turn, each on the frame at 0°, 90°, 270°, 180°
        (DFL's retries); the first try that finds a face wins. `upright_done`: the first backend's upright
        try already found nothing (the batched GPU path runs it itself)."""
        for b, backend in enumerate(self.backends):
            for degrees in ROTATIONS:
                if upright_done and b == 0 and degrees == 0:
                    continue
                found = backend.detect(rotate_frame(frame, degrees))
                faces = select_faces([unrotate_face(f, degrees, frame.shape) for f in found],
                                     self.cfg.max_faces, self.cfg.min_face_size)
                if faces:
                    return faces, backend
        return [], self.backends[-1]

    def finish(self, path: Path, frame: np.ndarray, faces, backend: Backend) -> FrameResult:
        """Align, write faces and the debug image for a frame whose faces are known."""
        from neuface.faceset.dfljpg import write_aligned_jpeg

        result = FrameResult(frame=path.name, detected=len(faces), backend=backend.name)
        aligned = align_faces(frame, faces, path.name, self.face_type, self.size, backend.identity_model)
        for i, face in enumerate(aligned):
            name = f"{path.stem}_{i}.jpg"
            write_aligned_jpeg(self.out_dir / name, face.image, face.to_meta(), self.cfg.jpeg_quality)
            result.faces.append(name)
        if self.debug_dir is not None:
            drawn = [DebugFace(f.source_rect, f.source_landmarks, f.image_to_face_mat, self.size) for f in aligned]
            atomic_write_bytes(self.debug_dir / f"{path.stem}.jpg", encode_debug(draw_debug(frame, drawn)))
        return result

    def __call__(self, path: Path) -> FrameResult:
        try:
            frame = load_frame(path)
        except FrameError as exc:
            return FrameResult(frame=path.name, error=str(exc))
        faces, used = self.detect(frame)
        return self.finish(path, frame, faces, used)


# ------------------------------------------------------------------ process pool (CPU)

_worker: FrameProcessor | None = None


def init_worker(cfg: DetectConfig, out_dir: Path, debug_dir: Path | None, redo: bool) -> None:
    import cv2

    cv2.setNumThreads(1)
    global _worker
    _worker = FrameProcessor(make_backends(cfg, redo, threads=1), cfg, out_dir, debug_dir)


def _work(path: Path) -> FrameResult:
    assert _worker is not None
    return _worker(path)


def make_backends(cfg: DetectConfig, redo: bool = False, threads: int | None = None) -> list[Backend]:
    """The backend for a run; for redo, that backend at its lower retry threshold, then its registered
    fallback backend (at the fallback's own threshold) when one is available."""
    name = resolve_backend(cfg.backend, cfg.models)

    def make(backend: str, offset: float = 0.0) -> Backend:
        opts = DetectOptions(threshold_offset=offset, with_embeddings=cfg.identity)
        return create_backend(backend, opts, cfg.models, cfg.device, threads, landmarker=cfg.landmarks)

    if not redo:
        return [make(name)]
    chain = [make(name, registry.get(name).redo_threshold_offset)]
    fallback = registry.redo_fallback(name, cfg.models)
    if fallback is not None:
        chain.append(make(fallback))
    return chain


def _run_pool(frames: list[Path], cfg: DetectConfig, out_dir: Path, debug_dir: Path | None, redo: bool,
              workers: int) -> Iterator[FrameResult]:
    # spawn, not fork: dlib and onnxruntime keep thread pools whose locks a forked child can inherit held.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker,
                             initargs=(cfg, out_dir, debug_dir, redo)) as pool:
        # One frame per task: a frame is 100+ ms of work against ~1 ms of queueing, and bigger chunks leave
        # a core idle at the end while another finishes its last chunk (and make the progress bar jumpy).
        yield from pool.map(_work, frames, chunksize=1)


def _run_batched(processor: FrameProcessor, frames: list[Path], batch_size: int) -> Iterator[FrameResult]:
    """GPU path: decode ahead on threads, infer in batches, warp/encode/write behind on threads."""
    backend = processor.backends[0]

    def load(path: Path):
        try:
            return path, load_frame(path), None
        except FrameError as exc:
            return path, None, str(exc)

    n_threads = max(2, cpu_cores() - 1)
    with ThreadPoolExecutor(n_threads) as loader, ThreadPoolExecutor(n_threads) as writer:
        loaded = loader.map(load, frames)
        pending = []
        batch: list[tuple[Path, np.ndarray]] = []

        def flush():
            results = backend.detect_batch([f for _, f in batch])
            for (path, frame), faces in zip(batch, results, strict=True):
                faces = select_faces(faces, processor.cfg.max_faces, processor.cfg.min_face_size)
                used = backend
                if not faces:  # rotation retries (and the redo chain), one frame at a time: rare
                    faces, used = processor.detect(frame, upright_done=True)
                pending.append(writer.submit(processor.finish, path, frame, faces, used))
            batch.clear()

        for path, frame, err in loaded:
            if err is not None:
                pending.append(writer.submit(FrameResult, path.name, [], err))
                continue
            batch.append((path, frame))
            if len(batch) >= batch_size:
                flush()
            while pending and pending[0].done():
                yield pending.pop(0).result()
        if batch:
            flush()
        for fut in pending:
            yield fut.result()


def process_frames(frames: list[Path], cfg: DetectConfig, out_dir: Path, debug_dir: Path | None,
                   redo: bool = False, workers: int | None = None) -> Iterator[FrameResult]:
    """Results per frame (in input order on CPU) while faces are written into `out_dir`."""
    if workers is None:
        # Auto: a spawned worker needs ~2 s to start (imports, dlib's 100 MB predictor), so a handful of
        # frames (e.g. a --redo-deleted-debug pass) is done sooner in this process.
        workers = cfg.workers or (cpu_cores() if len(frames) >= MIN_FRAMES_FOR_POOL else 1)
    workers = max(1, min(workers, len(frames)))
    name = resolve_backend(cfg.backend, cfg.models)
    cfg = replace(cfg, backend=name)  # workers use the backend chosen here, and do not re-resolve `auto`
    if registry.uses_gpu(name, cfg.device):
        processor = FrameProcessor(make_backends(cfg, redo), cfg, out_dir, debug_dir)
        return _run_batched(processor, frames, cfg.batch_size)
    if workers == 1:
        # one process: let onnxruntime use every core; dlib is single-threaded anyway
        return map(FrameProcessor(make_backends(cfg, redo, threads=None), cfg, out_dir, debug_dir), frames)
    return _run_pool(frames, cfg, out_dir, debug_dir, redo, workers)


def cpu_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------ folders and safety

def _has_entries(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def _backup_dir(frames_dir: Path) -> Path:
    base = frames_dir / f"aligned_backup_{time.strftime('%Y%m%d_%H%M%S')}"
    path, n = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}_{n}")
        n += 1
    return path


def _move_old_output(aligned: Path, debug: Path, frames_dir: Path) -> Path:
    """Move the previous aligned/ (and aligned_debug/) into aligned_backup_<timestamp>/."""
    backup = _backup_dir(frames_dir)
    backup.mkdir(parents=True)
    if _has_entries(aligned):
        os.replace(aligned, backup / "aligned")
    if _has_entries(debug):
        os.replace(debug, backup / "aligned_debug")
    return backup


def _install(staged: Path, final: Path) -> None:
    """Move a finished staging folder into place (final is absent or an empty folder)."""
    if final.exists():
        final.rmdir()
    os.replace(staged, final)


def _track(results: Iterable[FrameResult], total: int, label: str,
           on_result: Callable[[FrameResult], None]) -> None:
    faces = no_face = 0
    rate = RateTracker("faces")
    with make_progress("frames") as progress:
        task = progress.add_task(label, total=total, rate="")
        for res in results:
            on_result(res)
            faces += len(res.faces)
            no_face += res.error is None and not res.faces
            progress.update(task, advance=1, rate=f"{rate.text(faces)}, {no_face} without a face")


def _summarise(results: list[FrameResult], seconds: float, aligned: Path, backend: str,
               backup: Path | None) -> DetectResult:
    unreadable = [(r.frame, r.error) for r in results if r.error is not None]
    no_face = [r.frame for r in results if r.error is None and not r.faces]
    out = DetectResult(frames=len(results), faces=sum(len(r.faces) for r in results), no_face=no_face,
                       unreadable=unreadable, seconds=seconds, aligned_dir=aligned, backend=backend,
                       backup_dir=backup)
    for name, err in unreadable[:20]:
        warn(f"skipped unreadable frame {name}: {err}")
    if len(unreadable) > 20:
        warn(f"... and {len(unreadable) - 20} more unreadable frames")
    info(f"{out.faces} faces from {out.frames} frames ({len(no_face)} without a face, {len(unreadable)} unreadable)"
         f" in {seconds:.1f} s, {out.faces / max(seconds, 1e-9):.1f} faces/s -> {aligned}")
    return out


def _check_config(cfg: DetectConfig) -> None:
    FaceType.model_code(cfg.face_type, "--face-type")
    if not 64 <= cfg.resolved_size() <= 4096:
        raise UsageError(f"--size {cfg.size}: expected 64..4096 (DFL uses 256..2048)")
    if not 1 <= cfg.jpeg_quality <= 100:
        raise UsageError(f"--jpeg-quality {cfg.jpeg_quality}: expected 1..100")
    if cfg.max_faces < 0 or cfg.min_face_size < 0:
        raise UsageError("--max-faces and --min-face-size must be >= 0")
    resolve_landmarker(cfg.landmarks)  # a one-line error for a bad --landmarks before any work


def run_detect(ws: Workspace, side: Side, cfg: DetectConfig, force: bool = False,
               redo_deleted_debug: bool = False) -> DetectResult:
    """Detect faces in the side's frames into its aligned/ folder (see module docstring for safety)."""
    try:
        _check_config(cfg)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    side = Side(side)
    frames_dir = ws.frames_dir(side)
    frames, dupes = list_frames(frames_dir)
    for d in dupes:
        warn(f"skipping {d.name}: another frame has the same name stem")
    if not frames:
        raise UsageError(f"{frames_dir}: no frames ({', '.join(IMAGE_EXTENSIONS)}); "
                         f"run `neuface extract {side.value}` first")
    if redo_deleted_debug:
        return _redo(ws, side, cfg, frames)

    aligned, debug_dir = ws.aligned_dir(side), ws.aligned_debug_dir(side)
    if _has_entries(aligned) and not force:
        n = sum(1 for _ in aligned.iterdir())
        raise UsageError(f"{aligned} is not empty ({n} entries): pass --force to move it to "
                         f"aligned_backup_<timestamp>/ and detect again")
    debug = cfg.debug if cfg.debug is not None else side == Side.dst
    backend = resolve_backend(cfg.backend, cfg.models)
    info(f"detect {side.value}: {len(frames)} frames, backend {backend}, {face_type_name(cfg.face_type)} "
         f"{cfg.resolved_size()} px")
    t0 = time.perf_counter()
    results: list[FrameResult] = []
    backup: Path | None = None
    with staging_dir(aligned, prefix=".detect-") as stage:
        debug_stage = stage / ".debug" if debug else None
        if debug_stage is not None:
            debug_stage.mkdir(mode=0o777)
        _track(process_frames(frames, cfg, stage, debug_stage), len(frames), f"detect {side.value}", results.append)
        if cfg.smooth:
            _smooth(ws, side, cfg, frames, stage, debug_stage)
        # Old faces (only with --force) and stale debug images go to the backup, never deleted.
        if _has_entries(aligned) or _has_entries(debug_dir):
            backup = _move_old_output(aligned, debug_dir, frames_dir)
            info(f"previous output moved to {backup}")
        if debug_stage is not None:
            _install(debug_stage, debug_dir)
        _install(stage, aligned)
    return _summarise(results, time.perf_counter() - t0, aligned, backend, backup)


def _smooth(ws: Workspace, side: Side, cfg: DetectConfig, frames: list[Path], stage: Path,
            debug_stage: Path | None) -> None:
    """The --smooth second pass over the staged faces (see neuface.detect.smooth_pass for why a pass)."""
    from neuface.detect.smooth_pass import DEFAULT_FPS, smooth_written_faces

    fps = cfg.smooth_fps or _video_rate(ws, side) or DEFAULT_FPS
    n = smooth_written_faces(frames, stage, debug_stage, fps, cfg.smooth_strength, cfg.jpeg_quality)
    info(f"smoothed {n} faces over {len(frames)} frames at {fps:g} fps (strength {cfg.smooth_strength:g})")


def _video_rate(ws: Workspace, side: Side) -> float:
    """The side's video frame rate (0 when there is no readable video)."""
    from neuface.errors import NeufaceError
    from neuface.extract import VideoSource, resolve_video

    try:
        with VideoSource(resolve_video(ws, side, None)) as src:
            return float(src.info.rate or 0)
    except (NeufaceError, OSError):
        return 0.0


def _redo(ws: Workspace, side: Side, cfg: DetectConfig, frames: list[Path]) -> DetectResult:
    """Re-detect the frames whose aligned_debug image is missing, replacing their faces."""
    aligned, debug_dir = ws.aligned_dir(side), ws.aligned_debug_dir(side)
    if not debug_dir.is_dir():
        raise UsageError(f"{debug_dir} does not exist: --redo-deleted-debug needs the debug images of an "
                         "earlier run (detect with --debug)")
    if ws.pak_file(side).exists():
        raise UsageError(f"{ws.pak_file(side)}: faces are packed; run `neuface unpack {side.value}` first")
    have = {p.stem for p in debug_dir.iterdir() if p.suffix.lower() == ".jpg"}
    todo = [f for f in frames if f.stem not in have]
    if not todo:
        info(f"every frame has its debug image in {debug_dir}: nothing to redo")
        return DetectResult(0, 0, [], [], 0.0, aligned, resolve_backend(cfg.backend, cfg.models))
    aligned.mkdir(parents=True, exist_ok=True)
    stems = {f.stem for f in todo}
    old = [p for p in aligned.iterdir() if p.is_file() and p.suffix.lower() == ".jpg"
           and p.stem.rsplit("_", 1)[0] in stems]
    backup = None
    if old:
        backup = _backup_dir(ws.frames_dir(side))
        (backup / "aligned").mkdir(parents=True)
        for p in old:
            shutil.move(str(p), backup / "aligned" / p.name)
        info(f"{len(old)} old faces of those frames moved to {backup}")
    info(f"redo {len(todo)} frames with deleted debug images (lower threshold, then the other backend)")
    t0 = time.perf_counter()
    results: list[FrameResult] = []
    _track(process_frames(todo, cfg, aligned, debug_dir, redo=True), len(todo), f"redo {side.value}",
           results.append)
    for r in results:
        if r.backend:
            detail(f"{r.frame}: {len(r.faces)} faces ({r.backend})")
    return _summarise(results, time.perf_counter() - t0, aligned, resolve_backend(cfg.backend, cfg.models),
                      backup)
