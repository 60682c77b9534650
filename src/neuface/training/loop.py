"""The training loop every trainer runs: step until the target, a step limit or SIGINT/SIGTERM, saving all the way.

Saves at the first step (so a model exists at once), every `save_every_min` minutes, at backups, at the end
and on SIGINT/SIGTERM (the engine's writes are atomic, so `kill -9` loses at most the last interval);
previews at the first step, every `preview_every_min` minutes, at backups and at the end; backups every
`backup_every` iterations, at DFL's `autobackup_hour` and at the target. Only the engine's writer process
(rank 0 under torchrun) writes files.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from neuface.console import detail, info, make_progress, warn
from neuface.training.engine import TrainingEngine
from neuface.training.scalars import Scalars
from neuface.training.triggers import AutobackupClock, StopFlag, Timer


@dataclass(frozen=True)
class LoopPlan:
    """When the loop stops, saves, previews and backs up (0 minutes: never by time; 0 iterations: never)."""

    target: int = 0  # the model's iteration to stop at (0: none)
    max_iters: int | None = None  # stop after this many steps in this run (tests, benchmarks)
    save_every_min: float = 25.0
    preview_every_min: float = 5.0
    backup_every: int = 0
    autobackup_hours: int = 0  # DFL's autobackup_hour


@dataclass(frozen=True)
class LoopEnd:
    iteration: int  # the model's iteration when the loop returned
    stopped: bool  # by SIGINT/SIGTERM (the model is saved)


def status(iteration: int, ms: float, names: Sequence[str], losses: Sequence[float], target: int) -> str:
    """The progress bar's line: `iter 12/30      840 ms/it  src 0.4321  dst 0.3912`."""
    parts = [f"iter {iteration}{f'/{target}' if target else ''}", f"{ms:7.0f} ms/it"]
    return "  ".join(parts + [f"{n} {v:.4f}" for n, v in zip(names, losses, strict=False)])


def run_loop(engine: TrainingEngine, plan: LoopPlan) -> LoopEnd:
    """Train `engine` as `plan` says; returns where it ended. A second Ctrl-C raises KeyboardInterrupt."""
    target = plan.target
    if target and engine.iteration >= target:
        info(f"already at the target iteration {target}")
        return LoopEnd(engine.iteration, stopped=False)
    writer = engine.writer
    save_timer, preview_timer = Timer(plan.save_every_min), Timer(plan.preview_every_min)
    autobackup = AutobackupClock(plan.autobackup_hours)
    tb = Scalars(engine.history_dir, enabled=writer, names=engine.loss_names)
    stop = StopFlag()
    done = 0
    with stop.installed(), make_progress("it") as progress:
        task = progress.add_task(engine.label, total=target or None, completed=engine.iteration, rate="")
        t_last = time.perf_counter()
        while not engine.should_stop(bool(stop)):
            losses = engine.step()
            done += 1
            it = engine.iteration
            now = time.perf_counter()
            progress.update(task, completed=it, rate=status(it, (now - t_last) * 1000, engine.loss_names, losses,
                                                            target))
            t_last = now
            tb.add(it, losses)

            at_target = bool(target) and it >= target
            at_backup = bool(plan.backup_every) and it % plan.backup_every == 0
            at_end = at_target or (plan.max_iters is not None and done >= plan.max_iters)
            if writer:
                if done == 1 or at_end or save_timer.due() or at_backup:
                    engine.save()
                    at_backup = autobackup.due() or at_backup  # the clock is checked at every save
                if at_backup or at_target:
                    _backup(engine, progress)
                if done == 1 or at_end or preview_timer.due() or at_backup:
                    _preview(engine)
                if at_target:
                    progress.console.print(f"reached the target iteration {target}")
            if at_end:
                break
    if stop:
        if writer:
            engine.save()
            _preview(engine)
        info(f"stopped at iteration {engine.iteration} ({stop.name}); model saved")
    tb.close()
    return LoopEnd(engine.iteration, stopped=bool(stop))


def _preview(engine: TrainingEngine) -> None:
    try:
        engine.preview()
    except OSError as exc:
        warn(f"preview not written: {exc}")


def _backup(engine: TrainingEngine, progress: Any) -> None:
    t0 = time.perf_counter()
    folder = engine.backup()
    if folder is None:
        return
    detail(f"backup {folder} in {time.perf_counter() - t0:.1f} s")
    progress.console.print(f"backup at iteration {engine.iteration}: {folder}")
