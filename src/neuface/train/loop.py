"""`neuface train`: the SAEHD training loop - fed from the data pipeline, crash-safe, resumable, multi-GPU.

One iteration: the loader's next batch -> device (plus the batched GPU warp) -> one model step. Around it:
saves every `save_every_min` minutes, at backups, at the target and on SIGINT/SIGTERM (all through the
model folder API's atomic writes, so `kill -9` loses at most the last interval); previews every few
minutes; backups every `backup_every` iterations (and DFL's `autobackup_hour`) with a verified `.dfm`.
Under `torchrun`, every rank trains its slice of the batch and only rank 0 writes files.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuface.console import detail, info, make_progress, warn
from neuface.errors import UsageError
from neuface.workspace import Side, Workspace


@dataclass
class TrainRun:
    """What the user asked for this run (None = keep the model's stored value / DFL's default)."""

    name: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    lr: float | None = None
    seed: int | None = None
    backup_every: int = 0
    save_every_min: float = 25.0
    preview_every_min: float = 5.0
    consent: str | None = None
    reset_iter: bool = False
    pretrained: Path | None = None  # a DFL SAEHD model folder or zip: start a new model from it (read only)
    compile: bool = False
    workers: int | None = None
    max_iters: int | None = None  # stop after this many iterations in this run (tests, benchmarks)


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop finishes the current step, saves and returns."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __bool__(self) -> bool:
        return self.signal is not None

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        def handler(signum: int, _frame: Any) -> None:
            if self.signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now (the last save stays intact)
            self.signal = signum

        try:
            old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        except ValueError:  # not the main thread: no signal handling
            yield self
            return
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


class Timer:
    """`due()` once every `minutes` (never when minutes <= 0)."""

    def __init__(self, minutes: float):
        self.period = minutes * 60.0
        self.last = time.monotonic()

    def due(self) -> bool:
        if self.period <= 0 or time.monotonic() - self.last < self.period:
            return False
        self.last = time.monotonic()
        return True


class AutobackupClock:
    """DFL's `autobackup_hour`: a backup each time N more hours of this session have passed (checked at saves)."""

    def __init__(self, hours: int):
        self.hours = int(hours or 0)
        self.start = time.time()

    def due(self) -> bool:
        if self.hours <= 0:
            return False
        diff = int((time.time() - self.start) // 3600)
        if diff > 0 and diff % self.hours == 0:
            self.start += self.hours * 3600
            return True
        return False


def _units(dev) -> str:
    return "GPUs" if dev.type == "cuda" else "processes"


def _status(it: int, ms: float, losses: tuple[float, float], target: int) -> str:
    tgt = f"/{target}" if target else ""
    return f"iter {it}{tgt}  {ms:7.0f} ms/it  src {losses[0]:.4f}  dst {losses[1]:.4f}"


def train_saehd(workspace: Workspace, run: TrainRun, device: str = "auto", precision: str = "auto") -> int:
    """Train until the target iteration, `run.max_iters`, or a signal. Returns the iteration reached."""
    from neuface.runtime import configure_backends, resolve_device
    from neuface.train import ddp
    from neuface.train.data import BatchMaker, build_cache, default_workers, finish_batch, make_loader
    from neuface.train.engine import SaehdEngine, side_augments
    from neuface.train.warp import GpuWarper

    dist = ddp.setup(device)
    quiet_other_ranks(dist)
    dev = dist.device if dist.world > 1 else resolve_device(device)
    configure_backends(dev)
    engine = SaehdEngine.open(workspace.model_dir, run, dev, precision, dist=dist)
    opts = engine.options
    res, face_type = int(opts["resolution"]), str(opts["face_type"])
    global_batch = int(opts["batch_size"])
    if global_batch % dist.world:
        raise UsageError(f"--batch-size {global_batch} is not a multiple of the {dist.world} GPUs")

    src_dir, dst_dir = workspace.aligned_dir(Side.src), workspace.aligned_dir(Side.dst)
    with ddp.rank_zero_first(dist):
        src = build_cache(src_dir, res, face_type, "src")
        dst = build_cache(dst_dir, res, face_type, "dst")
    engine.set_fingerprint(src, dst)
    engine.probe_faces = [dst.crops[i] for i in range(min(4, len(dst)))]
    src_aug, dst_aug = side_augments(opts)
    pretrain = bool(opts.get("pretrain"))
    if pretrain:  # DFL trains both sides on one pretraining faceset; ours is src + dst together
        src = dst = _union(src, dst)
    gpu_geometry = dev.type == "cuda"
    maker = BatchMaker(src, dst, global_batch // dist.world, engine.seed, src_aug, dst_aug,
                       gpu_geometry=gpu_geometry, rank=dist.rank, world=dist.world)
    workers = run.workers if run.workers is not None else default_workers(dev.type)
    loader = make_loader(maker, engine.iteration, workers, pin_memory=dev.type == "cuda")
    warper = GpuWarper(dev) if gpu_geometry else None
    preview_batch = _preview_batch(maker, dev, warper)

    target = int(opts.get("target_iter") or 0)
    writer = dist.rank == 0
    save_timer, preview_timer = Timer(run.save_every_min), Timer(run.preview_every_min)
    autobackup = AutobackupClock(int(opts.get("autobackup_hour") or 0))
    tb = Scalars(engine.history_dir, enabled=writer)
    stop = StopFlag()
    done_this_run = 0
    info(f"training {engine.model_id} ({opts['archi']}, {res}px {face_type}, batch {global_batch}"
         f"{f' on {dist.world} {_units(dev)}' if dist.world > 1 else ''}) from iteration {engine.iteration}; "
         f"{len(src)} src / {len(dst)} dst faces; Ctrl-C saves and stops")
    if target and engine.iteration >= target:
        info(f"already at the target iteration {target}")
        return engine.iteration

    with stop.installed(), make_progress("it") as progress:
        task = progress.add_task("train", total=target or None, completed=engine.iteration, rate="")
        t_last = time.perf_counter()
        while True:
            if ddp.any_flag(dist, bool(stop)):
                break
            batch = finish_batch(next(loader), dev, warper)
            losses = engine.step(batch)
            done_this_run += 1
            it = engine.iteration
            now = time.perf_counter()
            ms = (now - t_last) * 1000
            t_last = now
            progress.update(task, completed=it, rate=_status(it, ms, losses, target))
            tb.add(it, losses)

            at_target = bool(target) and it >= target
            at_backup = bool(run.backup_every) and it % run.backup_every == 0
            at_limit = run.max_iters is not None and done_this_run >= run.max_iters
            if writer:
                if done_this_run == 1 or save_timer.due() or at_backup or at_target or at_limit:
                    engine.save()
                    if autobackup.due():
                        at_backup = True
                if at_backup or at_target:
                    _backup(engine, progress)
                if preview_timer.due() or done_this_run == 1 or at_backup or at_target:
                    _write_preview(engine, preview_batch)
            if at_target:
                if writer:
                    progress.console.print(f"reached the target iteration {target}")
                break
            if at_limit:
                break
    if stop:
        if writer:
            engine.save()
            _write_preview(engine, preview_batch)
        info(f"stopped at iteration {engine.iteration} ({signal.Signals(stop.signal).name}); model saved")
    tb.close()
    ddp.teardown(dist)
    return engine.iteration


def _union(a, b):
    import numpy as np

    from neuface.train.data import FaceCache

    return FaceCache(crops=np.concatenate([a.crops, b.crops]), masks=np.concatenate([a.masks, b.masks]),
                     yaws=np.concatenate([a.yaws, b.yaws]), names=a.names + b.names)


def _preview_batch(maker, dev, warper):
    """A fixed, un-augmented batch of up to 4 faces per side for previews (same faces every session)."""
    import numpy as np

    from neuface.train.data import finish_batch, preview_indices

    out = {}
    for side, cache in (("src", maker.src), ("dst", maker.dst)):
        idx = preview_indices(len(cache), 4)
        crops = cache.crops[idx].astype(np.float32).transpose(0, 3, 1, 2) / 255
        masks = cache.masks[idx].astype(np.float32).transpose(0, 3, 1, 2) / 255
        out[side] = {"warped": crops, "target": crops, "target_m": masks[:, :1], "target_em": masks[:, 1:]}
    return finish_batch({"iteration": 0, **out}, dev, None)


def _write_preview(engine, preview_batch) -> None:
    """preview.png + loss.png always; `<iter>.png` only with DFL's write_preview_history option."""
    from neuface.provenance import synthetic_media_text
    from neuface.train.preview import face_grid, write_previews

    try:
        cols = engine.preview(preview_batch)
        grid = face_grid(cols, caption=f"{engine.model_id}  iter {engine.iteration}")
        write_previews(engine.history_dir, engine.iteration, grid, engine.loss_history,
                       keep_history=bool(engine.options.get("write_preview_history")),
                       provenance=synthetic_media_text(str(engine.model_id), engine.iteration, "training preview"))
    except OSError as exc:
        warn(f"preview not written: {exc}")


def _backup(engine, progress) -> None:
    t0 = time.perf_counter()
    folder = engine.backup()
    detail(f"backup {folder} in {time.perf_counter() - t0:.1f} s")
    progress.console.print(f"backup at iteration {engine.iteration}: {folder}")


class Scalars:
    """TensorBoard loss scalars in `<history>/tensorboard/` when the optional `tensorboard` package is installed.

    Never stops training: without tensorboard, or once a write fails, it does nothing.
    """

    def __init__(self, folder: Path, enabled: bool = True):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        try:
            self.writer = SummaryWriter(str(folder / "tensorboard"))
        except Exception as exc:  # noqa: BLE001 - a logging extra must not stop training
            warn(f"TensorBoard scalars off: {exc}")

    def add(self, iteration: int, losses: tuple[float, float]) -> None:
        if self.writer is None:
            return
        try:
            self.writer.add_scalar("loss/src", losses[0], iteration)
            self.writer.add_scalar("loss/dst", losses[1], iteration)
        except Exception as exc:  # noqa: BLE001
            warn(f"TensorBoard scalars off: {exc}")
            self.close()

    def close(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001, S110 - closing a log on the way out
                pass
            self.writer = None


def quiet_other_ranks(dist) -> None:
    """Under torchrun only rank 0 talks: the others get -q (no progress bar, no info lines; warnings stay)."""
    from neuface.console import set_verbosity, verbosity

    if dist.rank != 0:
        set_verbosity(min(verbosity(), -1))


def run_xseg(state, target_iter: int = 0, save_every_min: float = 25.0, preview_every_min: float = 5.0,
             batch_size: int | None = None, face_type: str | None = None, seed: int | None = None,
             pretrain: bool | None = None, labels_from: Path | None = None, init_from: Path | None = None) -> None:
    """`neuface train --kind xseg`: the mask stage's XSeg trainer on both facesets' labelled faces."""
    from neuface.xseg.train import train_xseg

    ws = state.workspace
    dirs = [d for d in (ws.aligned_dir(Side.src), ws.aligned_dir(Side.dst)) if d.is_dir()]
    if not dirs:
        raise UsageError(f"{ws.aligned_dir(Side.src)}: no faceset to train XSeg on")
    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # the trainer saves on it, as on Ctrl-C

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        train_xseg(ws.model_dir, dirs, target_iter=target_iter, face_type=face_type, batch_size=batch_size or 4,
                   init_from=init_from, labels_from=labels_from, device=state.device, precision=state.precision,
                   save_every_min=save_every_min, preview_every_min=preview_every_min, pretrain=pretrain,
                   seed=seed)
    except KeyboardInterrupt:
        info("stopped; XSeg model saved")
    finally:
        signal.signal(signal.SIGTERM, previous)
