"""`run_pipeline`: every step in order, skipping finished ones, stopping at the first failure with a hint.

extract -> detect -> sort (when configured) -> mask (when an XSeg model is present) -> pack, for src and
dst, then train (to the target iteration) -> export. `from_stage` forces that stage and everything
after it; `until` stops after a stage. Each step is logged to `run.log` and `run_summary.json` as it
starts and ends, and recorded in the run state only once it succeeded, so an interrupted or failed job
resumes at the step that did not finish.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape

from neuface.console import console, info, warn
from neuface.errors import NeufaceError, UsageError
from neuface.pipeline.journal import Journal, StepRecord, format_counts
from neuface.pipeline.names import Stage, stage_index
from neuface.pipeline.params import OPTIONS
from neuface.pipeline.state import RunState
from neuface.pipeline.steps import Context, Decision, Step, StepError, StepInterrupted, all_steps, skip
from neuface.workspace import Side, Workspace


class PipelineError(NeufaceError):
    """A step failed: one line with the step, its error, a hint and where the log is (`result`: every step)."""

    def __init__(self, message: str, exit_code: int = 1, result: RunResult | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.result = result


@dataclass
class RunRequest:
    """What to run: the config (normalised neuface.toml), videos, stage range, target and device."""

    config: dict[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    videos: dict[Side, Path | None] = field(default_factory=dict)
    from_stage: Stage | None = None
    until: Stage | None = None
    target_iter: int | None = None
    device: str = "auto"
    precision: str = "auto"
    facesets: dict[Side, Path | None] = field(default_factory=dict)  # ready-made facesets, used in place
    pretrained: Path | None = None  # start the model from this DFL SAEHD folder/zip ([train] pretrained)

    def describe(self) -> dict[str, Any]:
        return {"config": str(self.config_path) if self.config_path else None,
                "videos": {s.value: str(v) for s, v in self.videos.items() if v is not None},
                "facesets": {s.value: str(v) for s, v in self.facesets.items() if v is not None},
                "pretrained": str(self.pretrained) if self.pretrained else None,
                "from": self.from_stage.value if self.from_stage else None,
                "until": self.until.value if self.until else None,
                "target_iter": self.target_iter, "device": self.device, "precision": self.precision}


@dataclass
class RunResult:
    journal: Journal

    @property
    def steps(self) -> list[StepRecord]:
        return self.journal.steps

    def record(self, step: str) -> StepRecord:
        return next(r for r in self.steps if r.step == step)

    def dfm(self) -> Path | None:
        """The `.dfm` the export step wrote in this run (None when it was skipped or not requested)."""
        value = self.record("export").counts.get("dfm")
        return Path(value) if value else None


def warn_unknown_tables(config: dict[str, Any], where: str) -> None:
    """A table named after no subcommand is ignored by everything: say so, it is usually a typo."""
    for name, value in config.items():
        if isinstance(value, dict) and name not in OPTIONS:
            warn(f"{where}: [{name}] is not a neuface command; its options are ignored")


def _in_range(step: Step, req: RunRequest) -> bool:
    return req.until is None or stage_index(step.stage) <= stage_index(req.until)


def _forced(step: Step, req: RunRequest) -> bool:
    return req.from_stage is not None and stage_index(step.stage) >= stage_index(req.from_stage)


def _failure(step: Step, ctx: Context, exc: BaseException) -> tuple[str, str, int, str | None]:
    """(message, hint, exit code, traceback or None) for a failed step."""
    if isinstance(exc, StepError):
        return str(exc), exc.hint or step.hint(ctx), exc.exit_code, None
    if isinstance(exc, NeufaceError):
        return str(exc), step.hint(ctx), exc.exit_code, None
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return (f"{type(exc).__name__}: {exc}", step.hint(ctx) + "; an unexpected error: the traceback is in run.log",
            1, tb)


def _link_facesets(ws: Workspace, req: RunRequest, ctx: Context, journal: Journal) -> None:
    """Point each side's aligned/ at its ready-made faceset (read in place where possible) before any step."""
    from neuface.faceset.external import link_faceset

    for side, path in req.facesets.items():
        if path is None:
            continue
        if req.videos.get(side) is not None:
            raise UsageError(f"--{side.value} {req.videos[side]} and --{side.value}-faceset {path}: give one of them")
        res = link_faceset(Path(path), ws.aligned_dir(side))
        ctx.facesets[side] = res
        journal.log(f"{side.value} faceset: {path} ({res.how})")
        info(f"{side.value} faces: {path} ({_HOW[res.how]})")


_HOW = {"symlink": "read in place through a link", "per-file symlinks": "read in place through links",
        "zip": "read in place from the zip", "extracted": "extracted once into the workspace"}


def _ready_made(step: Step, ctx: Context) -> Decision | None:
    """A per-side step on a side whose faces are a ready-made faceset: skipped, saying why."""
    res = ctx.facesets.get(step.side) if step.side else None
    if res is None:
        return None
    why = {Stage.mask: "its masks are kept as they are (`neuface mask` masks a workspace copy)",
           Stage.pack: "it is used as it is"}.get(step.stage, f"no {step.stage.value} needed")
    return skip(f"ready-made faceset {res.source} ({_HOW[res.how]}): {why}")


def run_pipeline(ws: Workspace, req: RunRequest) -> RunResult:
    """Run the requested steps in `ws`; raises PipelineError at the first failure (after logging it)."""
    if req.from_stage and req.until and stage_index(req.from_stage) > stage_index(req.until):
        raise UsageError(f"--from {req.from_stage.value} comes after --until {req.until.value}")
    ws.root.mkdir(parents=True, exist_ok=True)
    where = str(req.config_path or ws.config_file)
    warn_unknown_tables(req.config, where)
    ctx = Context(ws=ws, config=req.config, where=where, state=RunState.load(ws.root), device=req.device,
                  precision=req.precision, videos=req.videos, target_iter=req.target_iter,
                  pretrained=req.pretrained)
    steps = all_steps()
    records = [StepRecord(step=s.key, stage=s.stage.value, side=s.side.value if s.side else None) for s in steps]
    journal = Journal(ws.root, records, request=req.describe())
    journal.log(f"run started in {ws.root.resolve()} ({', '.join(f'{k}={v}' for k, v in req.describe().items() if v)})")
    preparing = "options"
    try:
        for step in steps:  # every option problem before any work starts
            ctx.params(step.stage, step.side)
        preparing = "facesets"
        _link_facesets(ws, req, ctx, journal)
    except NeufaceError as exc:
        journal.log(f"{preparing}: FAILED: {exc}")
        journal.finish("failed")
        raise
    wanted = [s for s in steps if _in_range(s, req)]  # the first steps: --until cuts off the rest
    for rec in records[len(wanted):]:
        rec.status, rec.reason = "not requested", f"after --until {req.until.value if req.until else ''}"
    for n, (step, rec) in enumerate(zip(wanted, records[:len(wanted)], strict=True), 1):
        label = f"[{n}/{len(wanted)}] {step.key}"
        try:
            p = ctx.params(step.stage, step.side)
            decision = _ready_made(step, ctx) or step.decide(ctx, p, _forced(step, req))
            if not decision.run:
                rec.status, rec.reason = decision.status, decision.reason
                journal.log(f"{step.key}: {decision.status}: {decision.reason}")
                info(f"{label}: {decision.status} - {decision.reason}", style="dim")
                continue
            rec.status, rec.reason, rec.started = "running", decision.reason, time.time()
            journal.log(f"{step.key}: started ({decision.reason})")
            console.rule(escape(f"{label} ({decision.reason})"), style="cyan", align="left")
            rec.counts = step.execute(ctx, p, decision)
            rec.finished, rec.status = time.time(), "done"
            ctx.state.record(step.key, decision.options, rec.counts, finished=rec.finished)
            journal.log(f"{step.key}: done in {rec.seconds:.1f} s: {format_counts(rec.counts)}")
        except (KeyboardInterrupt, StepInterrupted):
            rec.status, rec.finished = "interrupted", time.time()
            journal.log(f"{step.key}: interrupted")
            journal.finish("interrupted")
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is logged with a hint, then re-raised as one line
            message, hint, code, tb = _failure(step, ctx, exc)
            rec.status, rec.finished, rec.error, rec.hint = "failed", time.time(), message, hint
            journal.log(f"{step.key}: FAILED: {message}\nhint: {hint}" + (f"\n{tb}" if tb else ""))
            journal.finish("failed")
            raise PipelineError(f"{step.key} failed: {message} | hint: {hint} | fix it and run again: finished "
                                f"steps are skipped (log: {journal.log_path})", code, RunResult(journal)) from exc
    journal.finish("ok")
    return RunResult(journal)


def print_summary(result: RunResult) -> None:
    """A table of every step: what it did (or why it was skipped) and how long it took (hidden by -q)."""
    from rich.table import Table

    from neuface.console import verbosity

    if verbosity() < 0:
        return

    total = (result.journal.finished or time.time()) - result.journal.started
    table = Table(title=f"neuface run: {result.journal.status} in {total:.1f} s", title_justify="left")
    table.add_column("step")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("what happened", overflow="fold")
    colours = {"done": "green", "failed": "red", "interrupted": "yellow", "off": "dim", "skipped": "cyan"}
    for rec in result.steps:
        what = format_counts(rec.counts) if rec.status == "done" else (rec.error or rec.reason)
        secs = f"{rec.seconds:.1f} s" if rec.seconds is not None else ""
        table.add_row(rec.step, f"[{colours.get(rec.status, 'white')}]{rec.status}[/]", secs, escape(what))
    console.print(table)
    if result.journal.status != "ok":
        warn(f"see {result.journal.log_path}")
