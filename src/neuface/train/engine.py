"""SAEHD's engine for the shared training loop (`neuface.training`): open a model (new, resumed, or reset from a
pretrained one), step on the loader's batches, preview, save, back up - on top of the model-folder, model and
step APIs of `neuface.train`.

neuface-only state kept in the model (data.dat's `neuface` key, see `model_folder`): `seed`, `lr` (when
not DFL's), `consent`, `faceset_fingerprints`, `reset_from`, `grad_scale` (fp16 only: the loss scale to
resume at) and `rng` (torch's RNG streams, hex, so lr_dropout masks continue exactly after a resume; the
data order needs no state: it is a function of seed and iteration).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from neuface.console import info, warn
from neuface.dfl.facetype import DEFAULT_FACE_TYPE, FaceType
from neuface.errors import UsageError
from neuface.runtime import grad_scaler, isolate_compile_cache, seed_everything
from neuface.train import ddp
from neuface.train.data import SideAugment
from neuface.training.rng import restore_torch_rng, torch_rng_state

PREVIEW_COLUMNS = ("src", "src rec", "dst", "dst rec", "swapped")


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


class DfmWriter(Protocol):
    """What writes the verified `.dfm` into each backup: `neuface.export.dfm.export_dfm`, passed in by the
    caller (the CLI, `neuface run`) so that train never imports export."""

    def __call__(self, model: Any, out_path: Path, *, name: str, probe_faces: list[np.ndarray]) -> object: ...


def side_augments(options: dict[str, Any]) -> tuple[SideAugment, SideAugment]:
    """SAEHD's sample options per side (pretrain: no warp, both flips, no ct/hsv, uniform yaw)."""
    pretrain = bool(options.get("pretrain"))
    warp = bool(options.get("random_warp")) and not pretrain
    ct = str(options.get("ct_mode") or "none")
    src = SideAugment(flip=bool(options.get("random_src_flip")) or pretrain, warp=warp,
                      ct_mode=None if ct == "none" or pretrain else ct,
                      hsv_power=0.0 if pretrain else float(options.get("random_hsv_power") or 0.0),
                      uniform_yaw=bool(options.get("uniform_yaw")) or pretrain)
    dst = SideAugment(flip=bool(options.get("random_dst_flip")) or pretrain, warp=warp,
                      uniform_yaw=bool(options.get("uniform_yaw")) or pretrain)
    return src, dst


def _restart(model: Any) -> None:
    """Iteration 0 for a model started from another's weights: no history, no RNG streams or loss scale."""
    model.iter, model.loss_history = 0, []
    model.extra.pop("rng", None)
    model.extra.pop("grad_scale", None)


def fingerprint(cache: Any) -> str:
    """A short content hash of a cached faceset (names and decoded pixels): which faces trained this model."""
    import hashlib

    h = hashlib.blake2b(digest_size=12)
    for name in cache.names:
        h.update(name.encode("utf-8", "surrogateescape") + b"\0")
    for i in range(len(cache)):
        h.update(np.ascontiguousarray(cache.crops[i]).data)
    return f"{len(cache)}:{h.hexdigest()}"


class SaehdEngine:
    """One open model, a `neuface.training.TrainingEngine`: `step()` trains on the next of `batches` (device
    batches, set by `train_saehd`), `preview()` shows `preview_faces`, `backup()` adds `backup_dfm`'s `.dfm`."""

    label = "train"
    loss_names = ("src", "dst")
    _compile_pending = False  # --compile given and the first (compiling) step not yet through

    def __init__(self, ref: Any, model: Any, trainer: Any, dist: ddp.DistInfo, device: torch.device):
        self.ref, self.model, self.trainer, self.dist, self.device = ref, model, trainer, dist, device
        self.batches: Iterator[dict[str, Any]] = iter(())
        self.preview_faces: tuple[torch.Tensor, ...] = ()  # (src, dst), un-augmented
        self.probe_faces: list[np.ndarray] = []  # dst faces the backup's .dfm is verified on
        self.backup_dfm: DfmWriter | None = None

    # ---- opening --------------------------------------------------------------------------------
    @classmethod
    def open(cls, model_dir: Path, run: TrainRun, device: torch.device, precision: str,
             dist: ddp.DistInfo | None = None) -> SaehdEngine:
        from neuface.runtime import choose_precision
        from neuface.train.model import apply_options
        from neuface.train.model_folder import create_model, current_model, list_models, load_model
        from neuface.train.options import SAEHDOptions
        from neuface.train.step import SAEHDTrainer

        dist = dist or ddp.DistInfo()
        overrides = dict(run.overrides)
        if "face_type" in overrides:
            overrides["face_type"] = FaceType.model_code(overrides["face_type"], "--face-type")
        model = None
        if run.pretrained is not None:
            ref, model = cls._from_pretrained(model_dir, run, device)
        else:
            ref = current_model(model_dir, run.name)
            count = len(list_models(model_dir)) if run.name is None else 0
            if count > 1 and ref is not None:
                info(f"{count} SAEHD models in {model_dir}; continuing the most recent, {ref.name!r} "
                     "(choose with --name)")

        if ref is None:
            if run.reset_iter:
                raise UsageError(f"{model_dir}: --reset-iter needs an existing (pretrained) SAEHD model")
            overrides.setdefault("face_type", DEFAULT_FACE_TYPE.short_name)
            overrides.setdefault("batch_size", 4 if device.type == "cpu" else 8)
            d_dims = int(overrides.pop("d_dims", 64))
            options = SAEHDOptions.default(d_dims=d_dims, **overrides)
            seed = run.seed if run.seed is not None else secrets.randbelow(2**31)
            seed_everything(int(seed))  # the initial weights too: one --seed reproduces a run from scratch
            ref, model = create_model(model_dir, run.name or "new", options, device, lr=run.lr or 5e-5)
            model.extra["seed"] = int(seed)
            info(f"new model {ref.model_name} in {model_dir}")
        else:
            if model is None:
                model = load_model(ref, device=device, training=True)
            # DFL resets gan_patch_size with resolution only on creation; keep the stored one unless given.
            reset = apply_options(model, model.options.replace(**overrides)) if overrides else []
            if reset:
                warn(f"{ref.model_name}: reset {', '.join(reset)} for the new options")
            if run.lr is not None:
                for _, opt in model.optimizer_parts():
                    opt.lr = float(run.lr)
            if run.seed is not None:
                model.extra["seed"] = int(run.seed)
            model.extra.setdefault("seed", secrets.randbelow(2**31))
            if run.reset_iter:
                source, ref = ref, cls._reset_target(model_dir, ref, run)
                info(f"--reset-iter: training {ref.model_name} from {source.model_name}'s weights at "
                     "iteration 0 (the original files are not changed)")
                model.extra["reset_from"] = f"{source.model_name}@{int(model.iter)}"
                _restart(model)
            elif "rng" in model.extra:  # a resumed run (a model fresh from --pretrained has none)
                restore_torch_rng(dict(model.extra["rng"]), device)
        if run.consent is not None:
            model.extra["consent"] = str(run.consent)
        if dist.active:
            cls._sync_replicas(model, dist)
        prec = choose_precision(device, precision)
        trainer = SAEHDTrainer(model, precision=prec)
        if trainer.scaler.is_enabled() and "grad_scale" in model.extra:
            # fp16: go on at the loss scale the last session settled on instead of overflowing down to it again
            trainer.scaler = grad_scaler(device, prec, init_scale=float(model.extra["grad_scale"]))
        engine = cls(ref, model, trainer, dist, device)
        if run.compile:
            engine._compile()
        return engine

    @staticmethod
    def _from_pretrained(model_dir: Path, run: TrainRun, device: torch.device) -> tuple[Any, Any]:
        """(target ref, model loaded from --pretrained or None): a new model for this face, at iteration 0
        from the pretrained weights and architecture, or the one an earlier run started that way (resumed)."""
        from neuface.train.model_folder import ModelRef, dfl_model_name, load_model_files, read_data_dat
        from neuface.train.pretrained import open_pretrained

        if run.reset_iter:
            raise UsageError("--pretrained already starts a new model at iteration 0: drop --reset-iter")
        with open_pretrained(run.pretrained, dfl_model_name(run.name) if run.name else None) as pre:
            target = ModelRef(Path(model_dir), dfl_model_name(run.name) if run.name else pre.name)
            if target.exists():
                started = dict(read_data_dat(target.data_file).get("neuface") or {}).get("reset_from", "")
                if not str(started).startswith(pre.label):
                    raise UsageError(f"{target.data_file}: a model named {target.name!r} exists and was not "
                                     f"started from {pre.path}; pick a new name with --name")
                info(f"continuing {target.model_name}, started from {pre.label} (--pretrained reads it only once)")
                return target, None
            model = load_model_files(pre.files, device=device, training=True)
            model.extra["reset_from"] = f"{pre.label}@{int(model.iter)}"
            info(f"--pretrained: new model {target.model_name} in {model_dir} from {pre.label} (iteration "
                 f"{int(model.iter)}) at iteration 0; {pre.path} is only read")
            _restart(model)
            return target, model

    @staticmethod
    def _reset_target(model_dir: Path, source: Any, run: TrainRun) -> Any:
        """The model a reset run writes: `--name` when it names a new model, else `<source> reset`."""
        from neuface.train.model_folder import ModelRef, dfl_model_name

        same = run.name is None or dfl_model_name(run.name) == source.name
        target = ModelRef(Path(model_dir), f"{source.name} reset" if same else dfl_model_name(run.name))
        if target.exists():
            raise UsageError(f"{target.data_file}: already exists; continue it with --name {target.name!r} "
                             "(without --reset-iter)")
        return target

    @staticmethod
    def _sync_replicas(model: Any, dist: ddp.DistInfo) -> None:
        """Rank 0's weights and optimizer state everywhere; gradients averaged before every optimizer step."""
        seed = torch.tensor([int(model.extra.get("seed", 0))], dtype=torch.int64, device=model.device)
        ddp.broadcast_parameters(dist, [seed])  # one data stream: every rank slices the same global batch
        model.extra["seed"] = int(seed.item())
        tensors = [p for _, part in model.weight_parts() for p in part.parameters()]
        tensors += [t for _, opt in model.optimizer_parts() for slot in opt.state.values() for t in slot]
        ddp.broadcast_parameters(dist, tensors)
        for _, opt in model.optimizer_parts():
            params = [v.param for v in opt.variables]
            inner = opt.step

            def step(inner: Any = inner, params: list[torch.Tensor] = params) -> None:
                ddp.average_gradients(dist, params)
                inner()

            opt.step = step  # type: ignore[method-assign]

    def _compile(self) -> None:
        """Compile each network in place (`nn.Module.compile`): the module objects, their parameter names
        and so the saved DFL weight files stay exactly as without --compile."""
        isolate_compile_cache()
        for _, part in self.model.weight_parts():
            part.compile()
        self._compile_pending = True
        info("torch.compile: the first iterations compile the networks (minutes)")

    def _uncompile(self, exc: BaseException) -> None:
        """Back to eager after a failed compile (no C++ compiler, no triton): training goes on, slower."""
        for _, part in self.model.weight_parts():
            part._compiled_call_impl = None  # what nn.Module.compile() set
        self._compile_pending = False
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        warn(f"--compile: torch.compile failed here ({type(exc).__name__}: {reason[:160]}); "
             "continuing without it")

    # ---- properties the loop reads ---------------------------------------------------------------
    @property
    def writer(self) -> bool:
        return self.dist.rank == 0

    def should_stop(self, signalled: bool) -> bool:
        return ddp.any_flag(self.dist, signalled)

    @property
    def options(self) -> dict[str, Any]:
        return self.model.options.to_dfl()

    @property
    def iteration(self) -> int:
        return int(self.model.iter)

    @property
    def history_dir(self) -> Path:
        return Path(self.ref.folder) / f"{self.ref.model_name}_history"

    # ---- work -------------------------------------------------------------------------------------
    def step(self) -> tuple[float, float]:
        from neuface.train.step import SAEHDBatch

        batch = next(self.batches)
        s, d = batch["src"], batch["dst"]
        b = SAEHDBatch(s["warped"], s["target"], s["target_m"], s["target_em"],
                       d["warped"], d["target"], d["target_m"], d["target_em"])
        try:
            result = self.trainer.train_step(b).means
        except Exception as exc:  # a broken toolchain fails in the first compiled call, before any update
            if not self._compile_pending:
                raise
            self._uncompile(exc)
            result = self.trainer.train_step(b).means
        self._compile_pending = False
        return result

    @torch.no_grad()
    def preview(self) -> None:
        """The columns of PREVIEW_COLUMNS on `preview_faces`: preview.png + loss.png always, `<iter>.png` only
        with DFL's write_preview_history option."""
        from neuface.provenance import synthetic_media_text
        from neuface.runtime import autocast
        from neuface.training.preview import face_grid, write_previews

        s, d = self.preview_faces
        n = min(len(s), len(d))
        s, d = s[:n], d[:n]
        with autocast(self.device, self.trainer.precision):
            out = self.model.net(s, d, swap=True)
        cols = [s, out.pred_src_src, d, out.pred_dst_dst, out.pred_src_dst]
        name, it = self.ref.model_name, self.iteration
        grid = face_grid([c.float().clamp(0, 1).cpu().numpy() for c in cols], PREVIEW_COLUMNS,
                         caption=f"{name}  iter {it}")
        write_previews(self.history_dir, it, grid, self.model.loss_history,
                       keep_history=bool(self.options.get("write_preview_history")),
                       provenance=synthetic_media_text(str(name), it, "training preview"))

    def save(self) -> None:
        from neuface.train.model_folder import save_model

        self.model.extra["rng"] = torch_rng_state(self.device)
        if self.trainer.scaler.is_enabled():
            self.model.extra["grad_scale"] = float(self.trainer.scaler.get_scale())
        save_model(self.ref, self.model)  # the summary lists the model's device

    def backup(self) -> Path:
        """DFL's rolling backup of the saved files, plus (with `backup_dfm`) a verified `.dfm` inside it."""
        from neuface.train.model_folder import backup_model

        folder = backup_model(self.ref)
        if self.backup_dfm is not None:
            self.backup_dfm(self.model, folder / self.ref.dfm_file.name, name=self.ref.name,
                            probe_faces=self.probe_faces)
        return folder
