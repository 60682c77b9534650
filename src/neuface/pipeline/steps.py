"""One adapter per pipeline step: decide whether it must run (and say why), then run the stage's library call.

Each step reads its options with `params.stage_options` (the stage's options class, as its command reads
it) and calls the same library function as the stage's command, so `neuface run` never does anything
`neuface <stage>` would not. Decisions follow `state`'s rule: outputs present, options unchanged, nothing
upstream newer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuface.curate.options import CurateOptions
from neuface.detect.options import DetectConfig
from neuface.errors import NeufaceError, UsageError
from neuface.export.options import ExportOptions
from neuface.extract.options import ExtractOptions
from neuface.pack.options import PackOptions
from neuface.pipeline.names import ORDER, PER_SIDE, Stage, stage_index
from neuface.pipeline.params import plain, stage_options
from neuface.pipeline.state import RunState, changed_options, mtime, newest, oldest
from neuface.sort.options import SortOptions
from neuface.train.options import TrainOptions
from neuface.workspace import Side, Workspace
from neuface.xseg.options import MaskOptions


class StepError(NeufaceError):
    """A step cannot run or did not do its job; `hint` says what to change."""

    def __init__(self, message: str, hint: str = "", exit_code: int = 1):
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code


class StepInterrupted(NeufaceError):
    """A step stopped early on request (Ctrl-C during training saves and returns)."""

    exit_code = 130


@dataclass
class Decision:
    """Run (with `force` where the stage must replace earlier output) or not, and why."""

    run: bool
    reason: str
    options: dict[str, Any] = field(default_factory=dict)  # what the stamp records
    force: bool = False
    status: str = "skipped"  # when not run: skipped | off
    extra: dict[str, Any] = field(default_factory=dict)  # values found while deciding, reused by execute


def run(reason: str, options: dict[str, Any], force: bool = False, **extra: Any) -> Decision:
    return Decision(True, reason, options, force=force, extra=extra)


def skip(reason: str, status: str = "skipped") -> Decision:
    return Decision(False, reason, status=status)


@dataclass
class Context:
    """Everything a step needs: the workspace, the config, the stamps, the device and the run's requests."""

    ws: Workspace
    config: dict[str, Any]
    where: str
    state: RunState
    device: str = "auto"
    precision: str = "auto"
    videos: dict[Side, Path | None] = field(default_factory=dict)
    target_iter: int | None = None
    pretrained: Path | None = None
    facesets: dict[Side, Any] = field(default_factory=dict)  # side -> faceset.external.LinkResult
    _params: dict[str, Any] = field(default_factory=dict)

    def params(self, stage: Stage, side: Side | None) -> Any:
        """The stage's options object for that side (its [stage] table overlaid with [stage.<side>])."""
        key = step_key(stage, side)
        if key not in self._params:
            self._params[key] = stage_options(stage.value, self.config.get(stage.value),
                                              side.value if side else None, where=self.where)
        return self._params[key]


# ------------------------------------------------------------------ helpers

def face_files(aligned: Path) -> tuple[list[Path], int]:
    """(loose aligned images, number of faces in faceset.pak) of an aligned folder."""
    from neuface.faceset.external import ZIPREF_NAME
    from neuface.faceset.faceset import PakFaceset, list_images
    from neuface.faceset.pak import PAK_NAME

    loose = [p for p, _ in list_images(aligned)]
    packed = 0
    if (aligned / PAK_NAME).is_file() or (aligned / ZIPREF_NAME).is_file():
        with PakFaceset(aligned) as fs:
            packed = len(fs)
    return loose, packed


def stale_reason(ctx: Context, step: Step, options: dict[str, Any], inputs_time: float = 0.0,
                 outputs_time: float | None = None) -> str | None:
    """Why a step whose outputs exist must run again, or None when it is up to date.

    Without `outputs_time` (a step that changes the faces in place) only its stamp says it ran.
    """
    stamp = ctx.state.get(step.key)
    if stamp is None:
        if outputs_time is None:
            return "not run by `neuface run` yet"
        ref = outputs_time
    else:
        changed = changed_options(stamp.options, options)
        if changed:
            return "options changed: " + "; ".join(changed)
        ref = stamp.finished
    if ctx.state.latest(step.upstream_keys()) > ref:
        return "an earlier step ran again since"
    if inputs_time > ref:
        return "its input files changed since"
    return None


def ws_path(ws: Workspace, path: Path) -> str:
    """A path as a stamp stores it: relative inside the workspace (so a moved workspace stays up to date)."""
    full = Path(path).resolve()
    try:
        return full.relative_to(ws.root.resolve()).as_posix()
    except ValueError:
        return str(full)


def step_key(stage: Stage, side: Side | None) -> str:
    return f"{stage.value} {side.value}" if side else stage.value


# ------------------------------------------------------------------ the step base

class Step:
    """One stage on one side (or on both, for train and export)."""

    stage: Stage

    def __init__(self, side: Side | None = None):
        self.side = side

    @property
    def key(self) -> str:
        return step_key(self.stage, self.side)

    def upstream_keys(self) -> list[str]:
        """Earlier steps whose output this step consumes (same side; both sides for train/export)."""
        sides = [self.side] if self.side else list(Side)
        keys: list[str] = []
        for stage in ORDER[: stage_index(self.stage)]:
            keys += [step_key(stage, side) for side in sides] if stage in PER_SIDE else [step_key(stage, None)]
        return keys

    def decide(self, ctx: Context, p: Any, forced: bool) -> Decision:
        raise NotImplementedError

    def execute(self, ctx: Context, p: Any, d: Decision) -> dict[str, Any]:
        raise NotImplementedError

    def hint(self, ctx: Context) -> str:
        raise NotImplementedError

    # shared by the per-side steps
    @property
    def s(self) -> str:
        assert self.side is not None
        return self.side.value

    def aligned(self, ctx: Context) -> Path:
        assert self.side is not None
        return ctx.ws.aligned_dir(self.side)

    def faces(self, ctx: Context, verb: str) -> tuple[list[Path], int]:
        """`face_files` of the side's aligned folder; a StepError when it holds no faces to `verb`."""
        loose, packed = face_files(self.aligned(ctx))
        if not (loose or packed):
            raise StepError(f"no aligned faces in {self.aligned(ctx)} to {verb}", "run `neuface run --from detect`")
        return loose, packed

    def decision(self, ctx: Context, options: dict[str, Any], forced: bool, done: str, missing: str = "",
                 force: bool = False, inputs_time: float = 0.0, outputs_time: float | None = None,
                 **extra: Any) -> Decision:
        """Run when forced by --from, when the output is missing (`missing` says what it makes) or stale
        (`stale_reason`), with `force` and `extra` for execute; else skip: `up to date: <done>`."""
        reason = "forced by --from" if forced else missing
        reason = reason or stale_reason(ctx, self, options, inputs_time, outputs_time)
        return run(reason, options, force=force, **extra) if reason else skip(f"up to date: {done}")


class ExtractStep(Step):
    stage = Stage.extract

    def _video(self, ctx: Context, p: ExtractOptions) -> Path | None:
        from neuface.extract.frames import resolve_video

        assert self.side is not None
        given = ctx.videos.get(self.side) or p.video
        if given is not None:
            return Path(given)
        return resolve_video(ctx.ws, self.side, None) if ctx.ws.video_candidates(self.side) else None

    def decide(self, ctx: Context, p: ExtractOptions, forced: bool) -> Decision:
        assert self.side is not None
        frames = ctx.ws.frame_files(self.side)
        folder = ctx.ws.frames_dir(self.side)
        video = self._video(ctx, p)
        if video is None:
            if frames:
                return skip(f"no data_{self.s} video; keeping the {len(frames)} frames in {folder}")
            loose, packed = face_files(self.aligned(ctx))
            if loose or packed:
                return skip(f"no data_{self.s} video; using the {len(loose) or packed} aligned faces in "
                            f"{self.aligned(ctx)}")
            raise StepError(f"no {self.s} video and no frames in {folder}",
                            f"pass --{self.s} VIDEO, or put the video at {ctx.ws.root / f'data_{self.s}.mp4'}", 2)
        if not video.is_file():
            raise StepError(f"{video}: no such video file", f"check the path given with --{self.s} or in [run]", 2)
        options = {"video": ws_path(ctx.ws, video), "fps": p.fps, "format": plain(p.format)}
        return self.decision(ctx, options, forced, f"{len(frames)} frames in {folder}",
                             missing="" if frames else f"frames from {video.name}", force=bool(frames),
                             inputs_time=mtime(video), outputs_time=oldest(frames), video=video)

    def execute(self, ctx: Context, p: ExtractOptions, d: Decision) -> dict[str, Any]:
        from neuface.extract.frames import extract_frames

        assert self.side is not None
        res = extract_frames(ctx.ws, self.side, d.extra["video"], fps=p.fps, fmt=p.format, force=d.force)
        if res.count == 0:
            raise StepError(f"{res.video}: no frames extracted", "check the video and [extract] fps")
        return {"frames": res.count, "size": f"{res.width}x{res.height}", "video": res.video.name}

    def hint(self, ctx: Context) -> str:
        return (f"`neuface extract {self.s} VIDEO` on its own shows the same problem; check the file plays, "
                f"or pass another video with --{self.s}")


class DetectStep(Step):
    stage = Stage.detect
    OPTIONS = ("backend", "landmarks", "face_type", "size", "jpeg_quality", "max_faces", "min_face_size", "identity",
               "models")

    def decide(self, ctx: Context, p: DetectConfig, forced: bool) -> Decision:
        from neuface.faceset.pak import PAK_NAME

        assert self.side is not None
        frames = ctx.ws.frame_files(self.side)
        aligned = self.aligned(ctx)
        loose, packed = face_files(aligned)
        count = len(loose) or packed
        options = {k: plain(getattr(p, k)) for k in self.OPTIONS}
        if p.smooth:  # only when on: stamps of runs before the option existed stay up to date
            options.update(smooth=True, smooth_strength=p.smooth_strength)
        if not frames:
            if count:
                return skip(f"no frames; using the {count} aligned faces in {aligned}")
            raise StepError(f"no frames in {ctx.ws.frames_dir(self.side)} and no aligned faces",
                            f"give extract a video (--{self.s} VIDEO) or put DFL aligned faces in {aligned}")
        made = mtime(aligned / PAK_NAME) if packed else oldest(loose)  # when the faces were made
        return self.decision(ctx, options, forced, f"{count} faces in {aligned}",
                             missing="" if count else f"faces from {len(frames)} frames",
                             force=aligned.is_dir() and any(aligned.iterdir()), inputs_time=newest(frames),
                             outputs_time=made)

    def execute(self, ctx: Context, p: DetectConfig, d: Decision) -> dict[str, Any]:
        from neuface.detect.pipeline import run_detect

        assert self.side is not None
        res = run_detect(ctx.ws, self.side, p.replace(device=ctx.device), force=d.force)
        if res.faces == 0:
            raise StepError(f"no faces found in the {res.frames} frames of {ctx.ws.frames_dir(self.side)}",
                            self.hint(ctx))
        return {"frames": res.frames, "faces": res.faces, "no_face": len(res.no_face),
                "unreadable": len(res.unreadable), "backend": res.backend}

    def hint(self, ctx: Context) -> str:
        return (f"look at the frames in {ctx.ws.frames_dir(self.side)}: faces must be at least ~40 px and mostly "
                "frontal for dlib; try [detect] backend = \"insightface\" (buffalo_l) or lower min-face-size")


class SortStep(Step):
    stage = Stage.sort

    def decide(self, ctx: Context, p: SortOptions, forced: bool) -> Decision:
        if p.by is None:
            return skip(f"not configured: set [sort] by = \"METHOD\" ([sort.{self.s}] for {self.s} only)", status="off")
        options = {"by": p.method.key, "target": p.target, "dissimilar": p.dissimilar}
        self.faces(ctx, "sort")
        return self.decision(ctx, options, forced, f"sorted by {p.method.key}")

    def execute(self, ctx: Context, p: SortOptions, d: Decision) -> dict[str, Any]:
        from neuface.console import info
        from neuface.pack import unpack_faceset
        from neuface.sort.sorter import sort_aligned

        assert self.side is not None
        aligned = self.aligned(ctx)
        loose, packed = face_files(aligned)
        if packed:
            if loose:
                raise StepError(f"{aligned} holds faceset.pak and {len(loose)} loose faces; sort needs one of them",
                                "delete the loose copies (they are in the pak) or the pak, then run again")
            res = unpack_faceset(aligned)
            info(f"unpacked {res.written} faces to sort them (pack packs them again)")
        result = sort_aligned(aligned, ctx.ws.aligned_trash_dir(self.side), p.replace(dry_run=False))
        if result.renamed is None:
            return {"faces": len(result.names), "changed": 0}
        return {"kept": result.renamed.kept, "trashed": result.renamed.trashed}

    def hint(self, ctx: Context) -> str:
        return "fix [sort] in neuface.toml (`neuface sort --help` lists methods), or remove `by` to skip sorting"


class CurateStep(Step):
    """Optional: flag (and with `[curate] apply = true`, trash) bad faces between sort and mask (issue 18)."""

    stage = Stage.curate

    def decide(self, ctx: Context, p: CurateOptions, forced: bool) -> Decision:
        if p.restore:
            raise StepError("[curate] restore = true has no place in a pipeline run",
                            f"restore once with `neuface curate {self.s} --restore`", 2)
        if not p.apply and p.sheet is None:
            return skip("not configured: set [curate] apply = true (or sheet = \"review.png\" for a dry run)",
                        status="off")
        options = {f.name: plain(getattr(p, f.name)) for f in p.option_fields() if f.name not in ("jobs", "json_path")}
        self.faces(ctx, "curate")
        return self.decision(ctx, options, forced, "curated")

    def execute(self, ctx: Context, p: CurateOptions, d: Decision) -> dict[str, Any]:
        from neuface.curate.curator import curate_aligned

        assert self.side is not None
        out = p.verdicts_path(ctx.ws.frames_dir(self.side))
        result = curate_aligned(self.aligned(ctx), ctx.ws.aligned_trash_dir(self.side), out, p, sheet=p.sheet,
                                apply=p.apply)
        return {"faces": len(result.verdicts), "flagged": len(result.flagged),
                "moved": result.moved.total if result.moved else 0}

    def hint(self, ctx: Context) -> str:
        return (f"`neuface curate {self.s}` on its own shows the same problem; fix [curate] in neuface.toml or "
                "remove the table to skip curating")


class MaskStep(Step):
    stage = Stage.mask

    def decide(self, ctx: Context, p: MaskOptions, forced: bool) -> Decision:
        from neuface.xseg.apply import locate_model

        if p.remove:
            raise StepError("[mask] remove = true has no place in a pipeline run",
                            f"remove masks once with `neuface mask {self.s} --remove`", 2)
        try:
            files = locate_model(p.model_dir, ctx.ws.model_dir)
        except UsageError:
            if p.model_dir is not None:
                raise
            return skip(f"no XSeg model in {ctx.ws.model_dir} (put GenericXSeg's XSeg_256.npy there to mask)",
                        status="off")
        options = {"weights": hashlib.blake2b(files.weights, digest_size=8).hexdigest(),
                   "xseg_face_type": p.xseg_face_type}
        self.faces(ctx, "mask")
        return self.decision(ctx, options, forced, f"masks from {files.origin}", files=files)

    def execute(self, ctx: Context, p: MaskOptions, d: Decision) -> dict[str, Any]:
        from neuface.xseg.apply import apply_masks

        rep = apply_masks(self.aligned(ctx), d.extra["files"], face_type=p.xseg_face_type, device=ctx.device,
                          precision=ctx.precision, batch_size=p.batch_size, sheet=p.sheet)
        return {"faces": rep.faces, "masked": rep.masked, "skipped": len(rep.skipped)}

    def hint(self, ctx: Context) -> str:
        return (f"`neuface mask {self.s}` on its own shows the same problem; check the XSeg files in "
                f"{ctx.ws.model_dir} (or [mask] model-dir), or move them away to train without masks")


class PackStep(Step):
    stage = Stage.pack

    def decide(self, ctx: Context, p: PackOptions, forced: bool) -> Decision:
        aligned = self.aligned(ctx)
        loose, packed = self.faces(ctx, "pack")
        if packed:
            if loose and len(loose) != packed:  # copies kept by `[pack] keep`, then edited by hand: which one counts?
                raise StepError(f"{aligned} holds faceset.pak with {packed} faces and {len(loose)} loose faces beside "
                                "it; training reads the pak, so faces deleted or added by hand would be ignored",
                                "delete faceset.pak to pack the loose faces again, or the loose copies to keep the pak")
            kept = f"; {len(loose)} loose copies beside it" if loose else ""
            return skip(f"packed: {packed} faces in {aligned / 'faceset.pak'}{kept}")
        return run(f"{len(loose)} faces", {"keep": p.keep})

    def execute(self, ctx: Context, p: PackOptions, d: Decision) -> dict[str, Any]:
        from neuface.pack import pack_faceset

        res = pack_faceset(self.aligned(ctx), keep=p.keep, skip_invalid=p.skip_invalid)
        return {"packed": res.packed, "megabytes": round(res.bytes / 1e6, 2), "removed": res.removed,
                "invalid_left": len(res.skipped)}

    def hint(self, ctx: Context) -> str:
        return (f"`neuface pack {self.s}` on its own lists the files that are not DFL faces; "
                "[pack] skip-invalid = true packs the rest and leaves them in place")


class TrainStep(Step):
    stage = Stage.train

    def target(self, ctx: Context, p: TrainOptions) -> int:
        return int(ctx.target_iter if ctx.target_iter is not None else (p.target_iter or 0))

    def decide(self, ctx: Context, p: TrainOptions, forced: bool) -> Decision:
        if p.kind.strip().lower() != "saehd":
            raise StepError(f"[train] kind = {p.kind!r}: `neuface run` trains SAEHD",
                            "train XSeg on its own with `neuface train --kind xseg`", 2)
        if p.reset_iter:
            raise StepError("[train] reset-iter = true would restart the model on every run",
                            "use [train] pretrained = PATH (or `neuface run --pretrained PATH`): it starts the "
                            "new model once, and later runs continue it", 2)
        target = self.target(ctx, p)
        if target <= 0:
            raise StepError("no target iteration: training would never end",
                            "set [train] target-iter = N in neuface.toml, or pass --target-iter N", 2)
        from neuface.train.model_folder import current_model, read_data_dat
        ref = current_model(ctx.ws.model_dir, p.name)
        it = int(read_data_dat(ref.data_file).get("iter", 0)) if ref is not None else 0
        options = {"target_iter": target, "model": ref.name if ref else p.name}
        if it >= target and not forced:
            stamp = ctx.state.get(self.key)
            newer = ctx.state.latest(self.upstream_keys()) > (stamp.finished if stamp else mtime(ref.data_file))
            note = "; the facesets changed since: raise --target-iter to train on them" if newer else ""
            return skip(f"{ref.model_name} is at iteration {it}, target {target}{note}")
        pretrained = ctx.pretrained or p.pretrained
        start = f"new model from {Path(pretrained).name}" if pretrained and ref is None else "new model"
        return run(f"{ref.model_name if ref else start}: iteration {it} -> {target}", options, start=it)

    def execute(self, ctx: Context, p: TrainOptions, d: Decision) -> dict[str, Any]:
        from neuface.export.dfm import export_dfm
        from neuface.train.model_folder import current_model
        from neuface.train.saehd import train_saehd

        target = self.target(ctx, p)
        req = p.replace(target_iter=target, pretrained=ctx.pretrained or p.pretrained).train_run()
        reached = train_saehd(ctx.ws, req, device=ctx.device, precision=ctx.precision, backup_dfm=export_dfm)
        if reached < target:
            raise StepInterrupted(f"training stopped at iteration {reached} of {target}; the model is saved and "
                                  "`neuface run` continues from there")
        ref = current_model(ctx.ws.model_dir, p.name)
        return {"model": ref.model_name if ref else "?", "from_iteration": d.extra["start"], "iteration": reached}

    def hint(self, ctx: Context) -> str:
        return ("check [train] in neuface.toml (`neuface train --help`); the model is saved, so `neuface run` "
                "continues from the last save")


class ExportStep(Step):
    stage = Stage.export

    def upstream_keys(self) -> list[str]:
        """Only the model matters: new faces that were not trained on change nothing in the export."""
        return [step_key(Stage.train, None)]

    def decide(self, ctx: Context, p: ExportOptions, forced: bool) -> Decision:
        if p.check is not None:
            raise StepError("[export] check is not a pipeline option", "check a file with `neuface export --check`", 2)
        model_dir = p.model_dir or ctx.ws.model_dir
        name = p.name or ctx.params(Stage.train, None).name
        from neuface.train.model_folder import current_model
        ref = current_model(model_dir, name)
        if ref is None:
            raise StepError(f"no SAEHD model{f' named {name!r}' if name else ''} in {model_dir} to export",
                            "run `neuface run --from train` (or put a DFL SAEHD model folder's files there)")
        out = Path(p.out) if p.out is not None else ref.dfm_file
        options = {"out": ws_path(ctx.ws, out), "fp16": p.fp16, "opset": p.opset, "model": ref.name}
        return self.decision(ctx, options, forced, str(out),
                             missing="" if out.is_file() else f"{ref.model_name} -> {out.name}",
                             inputs_time=newest(ref.model_files()), outputs_time=mtime(out), ref=ref, out=out)

    def execute(self, ctx: Context, p: ExportOptions, d: Decision) -> dict[str, Any]:
        from neuface.export.dfm import export_dfm
        from neuface.export.faces import workspace_faces

        ref = d.extra["ref"]
        res = export_dfm(ref.folder, d.extra["out"], name=ref.name, fp16=p.fp16, opset=p.opset,
                         probe_faces=workspace_faces(ctx.ws))
        return {"dfm": str(res.path), "mebibytes": round(res.path.stat().st_size / 2**20, 2),
                "face_type": res.metadata.get("face_type", ""), "iteration": int(res.metadata.get("iteration", 0)),
                "verified_faces": res.n_faces,
                "max_abs_diff": max(res.verification.max_abs_diff.values(), default=0.0)}

    def hint(self, ctx: Context) -> str:
        return "`neuface export` on its own shows the same problem; `neuface export --check FILE.dfm` checks a file"


STEP_TYPES: dict[Stage, type[Step]] = {t.stage: t for t in (ExtractStep, DetectStep, SortStep, CurateStep, MaskStep,
                                                               PackStep, TrainStep, ExportStep)}


def all_steps() -> list[Step]:
    """Every step in order: the per-side stages for src then dst, then train and export."""
    steps: list[Step] = []
    for stage in ORDER:
        sides: list[Side | None] = list(Side) if stage in PER_SIDE else [None]
        steps += [STEP_TYPES[stage](side) for side in sides]
    return steps
