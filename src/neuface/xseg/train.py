"""XSeg training (`neuface train --kind xseg`): DFL's Model_XSeg in PyTorch, writing DFL's model files.

Samples are the labelled faces of the given aligned folders/paks (`neuface.xseg.samples`). Loss is DFL's
per-sample mean sigmoid cross-entropy, its batch sum differentiated; optimizer DFL's RMSprop (lr 1e-4,
lr_dropout 0.3). Pretrain mode (DFL's `pretrain` option) needs no labels: every face, skips zeroed, the
network reconstructs the grey face (5·DSSIM(22) + 5·DSSIM(11) + 10·MSE). `XSegEngine` runs in the shared
training loop (`neuface.training`), which saves `XSeg_256.npy`, `XSeg_256_opt.npy`, `XSeg_data.dat` (each
atomic, data.dat last so it never claims unsaved weights) and `XSeg_summary.txt` at the first step, every
`save_every_min`, at the end and on SIGINT/SIGTERM; an existing model folder resumes with its RNG streams
(batch order, augmentation, lr_dropout masks), kept in data.dat's neuface-only key. Like DFL's XSeg it keeps
no backups. fp16 uses the runtime's GradScaler (skips overflowing steps, halves, and grows the scale back).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neuface import runtime
from neuface.atomic import atomic_write_bytes
from neuface.console import detail, info, warn
from neuface.dfl.facetype import DEFAULT_FACE_TYPE, FaceType
from neuface.dfl.losses import dssim
from neuface.dfl.weights import encode_weight_dict, read_pickle_bytes
from neuface.errors import UsageError
from neuface.training.engine import TrainingEngine
from neuface.training.loop import LoopPlan, run_loop
from neuface.training.rng import restore_torch_rng, torch_rng_state
from neuface.xseg.model_files import (
    DATA_NAME,
    OPT_NAME,
    WEIGHTS_NAME,
    XSegRMSprop,
    find_xseg_files,
    load_dfl_state,
    make_data_dat,
    parse_data_dat,
    save_weights,
)
from neuface.xseg.net import XSeg
from neuface.xseg.preview import HISTORY_DIR, grey, write_preview, write_summary
from neuface.xseg.samples import Batcher, XSegSample, load_samples


@dataclass
class XSegTrainResult:
    iteration: int  # total iterations of the model after this session
    losses: list[float] = field(default_factory=list)  # this session's per-iteration mean batch loss
    saved: list[Path] = field(default_factory=list)
    samples: int = 0


@dataclass
class _State:
    net: XSeg
    opt: XSegRMSprop
    iteration: int
    options: dict
    loss_history: list[list[float]]
    extra: dict = field(default_factory=dict)  # data.dat's neuface-only key: RNG streams


def _load_or_create(model_dir: Path, face_type: str | None, batch_size: int, init_from: Path | None,
                    device: torch.device, pretrain: bool | None = None) -> _State:
    net = XSeg()
    wpath, opath, dpath = model_dir / WEIGHTS_NAME, model_dir / OPT_NAME, model_dir / DATA_NAME
    data: dict = {}  # the stored data.dat, if any
    if wpath.is_file():
        load_dfl_state(net, read_pickle_bytes(wpath.read_bytes(), wpath), str(wpath))
        if dpath.is_file():
            data = parse_data_dat(dpath.read_bytes(), str(dpath))
        stored = data.get("options", {}).get("face_type")
        ft = FaceType.model_code(stored or face_type or DEFAULT_FACE_TYPE, "XSeg face type")
        if stored and face_type and FaceType.model_code(face_type, "--face-type") != ft:
            warn(f"{dpath}: model was trained for face type {stored!r}; ignoring --face-type {face_type}")
        info(f"resuming XSeg model {wpath} at iteration {int(data.get('iter', 0))}")
    elif init_from is not None:
        files = find_xseg_files([init_from])
        if files is None:
            raise UsageError(f"{init_from}: no XSeg model (XSeg_256.npy or GenericXSeg.zip) to fine-tune from")
        load_dfl_state(net, read_pickle_bytes(files.weights, files.weights_name), files.weights_name)
        ft = FaceType.model_code(face_type or files.face_type() or DEFAULT_FACE_TYPE, "XSeg face type")
        info(f"fine-tuning XSeg from {files.weights_name}")
    else:
        ft = FaceType.model_code(face_type or DEFAULT_FACE_TYPE, "XSeg face type")
        info("training a new XSeg model from scratch")
    iteration, options = int(data.get("iter", 0)), dict(data.get("options", {}))
    if pretrain is None:
        pretrain = bool(options.get("pretrain", False))
    options.update(face_type=ft, pretrain=bool(pretrain), batch_size=int(batch_size))
    net = net.to(device).train()
    opt = XSegRMSprop(net)
    if wpath.is_file() and opath.is_file():
        opt.load_dfl(read_pickle_bytes(opath.read_bytes(), opath), str(opath))
    elif wpath.is_file() and iteration > 0:
        warn(f"{opath} missing: optimizer state starts from zero")
    history = [list(map(float, row)) for row in data.get("loss_history") or []]
    return _State(net, opt, iteration, options, history, dict(data.get("neuface") or {}))


def save_model(model_dir: Path, st: _State, device: torch.device | None = None) -> list[Path]:
    """Write DFL's files atomically (data.dat after the weights it describes, so it never names weights not yet
    on disk), then the summary."""
    model_dir.mkdir(parents=True, exist_ok=True)
    files = [model_dir / WEIGHTS_NAME, model_dir / OPT_NAME, model_dir / DATA_NAME]
    save_weights(st.net, files[0])
    atomic_write_bytes(files[1], encode_weight_dict(st.opt.state_to_dfl()))
    atomic_write_bytes(files[2], make_data_dat(st.iteration, st.options, st.loss_history, extra=st.extra))
    files.append(write_summary(model_dir, st.iteration, st.options, device or torch.device("cpu")))
    return files


def train_step(net: XSeg, opt: XSegRMSprop, images: np.ndarray, masks: np.ndarray, device: torch.device,
               precision: runtime.Precision, scaler: torch.amp.GradScaler, pretrain: bool = False) -> float:
    """One DFL XSeg step; returns the batch-mean loss (what DFL logs). `pretrain`: skips zeroed, the sigmoid
    output against the grey face (`masks` unused) instead of the mask cross-entropy."""
    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2)
    y = torch.from_numpy(grey(images) if pretrain else masks).to(device).permute(0, 3, 1, 2)
    opt.zero_grad()
    with runtime.autocast(device, precision):
        logits = net(x, pretrain=pretrain)
    if pretrain:
        per_sample = pretrain_loss(torch.sigmoid(logits.float()), y)
    else:
        per_sample = F.binary_cross_entropy_with_logits(logits.float(), y, reduction="none").mean(dim=(1, 2, 3))
    scaler.scale(per_sample.sum()).backward()  # DFL differentiates the batch sum
    scaler.step(opt)  # unscales; skips the step when a gradient overflowed (a plain step when disabled)
    scaler.update()  # halves on overflow, doubles after growth_interval clean steps
    return float(per_sample.detach().mean())


def pretrain_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DFL's XSeg pretraining loss per sample: 5·DSSIM(k=int(256/11.6)) + 5·DSSIM(k=int(256/23.2)) + 10·MSE."""
    res = pred.shape[-1]
    return (5 * dssim(pred, target, filter_size=int(res / 11.6)).mean(1)
            + 5 * dssim(pred, target, filter_size=int(res / 23.2)).mean(1)
            + 10 * (pred - target).square().mean(dim=(1, 2, 3)))


class XSegEngine(TrainingEngine):
    """One open XSeg model: steps on `batcher`'s batches, previews the first (up to) 4 samples un-augmented and,
    like DFL's XSeg (no autobackup_hour option), keeps no backups. `losses`: this session's; `saved`: the files
    of the last save."""

    label = "XSeg"
    loss_names = ("xseg",)
    writer = True

    def __init__(self, model_dir: Path, st: _State, samples: list[XSegSample], batcher: Batcher,
                 device: torch.device, precision: runtime.Precision,
                 on_iteration: Callable[[int, float], None] | None = None):
        self.model_dir, self.st, self.samples, self.batcher = model_dir, st, samples, batcher
        self.device, self.precision, self.on_iteration = device, precision, on_iteration
        self.scaler = runtime.grad_scaler(device, precision)
        self.pretrain = bool(st.options.get("pretrain"))
        self.losses: list[float] = []
        self.saved: list[Path] = []

    @property
    def iteration(self) -> int:
        return self.st.iteration

    @property
    def history_dir(self) -> Path:
        return self.model_dir / HISTORY_DIR

    def step(self) -> tuple[float]:
        st = self.st
        imgs, masks = self.batcher.next()
        loss = train_step(st.net, st.opt, imgs, masks, self.device, self.precision, self.scaler, self.pretrain)
        st.iteration += 1
        st.loss_history.append([loss])
        self.losses.append(loss)
        if self.on_iteration is not None:
            self.on_iteration(st.iteration, loss)
        return (loss,)

    def save(self) -> None:
        self.st.extra = {**self.st.extra, "rng": torch_rng_state(self.device), "batches": self.batcher.state()}
        self.saved = save_model(self.model_dir, self.st, self.device)

    @torch.no_grad()
    def preview(self) -> None:
        st, picks = self.st, self.samples[:4]
        images = np.stack([s.image for s in picks]).astype(np.float32) / 255.0
        labels = grey(images) if self.pretrain else np.stack([s.mask for s in picks]).astype(np.float32)[..., None]
        st.net.eval()
        try:
            with runtime.autocast(self.device, self.precision):
                logits = st.net(torch.from_numpy(images).to(self.device).permute(0, 3, 1, 2), pretrain=self.pretrain)
            out = torch.sigmoid(logits.float()).permute(0, 2, 3, 1).cpu().numpy()
            write_preview(self.model_dir, st.iteration, images, labels, out, st.loss_history, self.pretrain)
        finally:
            st.net.train()

def train_xseg(model_dir: Path, aligned_dirs: Sequence[Path], *, iterations: int | None = None,
               target_iter: int = 0, face_type: str | None = None, batch_size: int = 4,
               init_from: Path | None = None, labels_from: Path | None = None, device: str = "auto",
               precision: str = "auto", save_every_min: float = 25.0, preview_every_min: float = 5.0,
               augment: bool = True, pretrain: bool | None = None, seed: int | None = None,
               on_iteration: Callable[[int, float], None] | None = None) -> XSegTrainResult:
    """Train (or resume) the XSeg model in `model_dir` on the labelled faces of `aligned_dirs`.

    Stops after `iterations` steps this session, when the model reaches `target_iter` (0 = no target), or on
    SIGINT/SIGTERM (saved; a second Ctrl-C raises KeyboardInterrupt); with neither limit it runs until a signal.
    `pretrain` None keeps the model's stored mode; `seed` None continues a resumed model's RNG streams.
    """
    if not 1 <= batch_size <= 64:
        raise UsageError(f"--batch-size {batch_size}: expected 1..64 (DFL allows 2..16)")
    if labels_from is not None and not Path(labels_from).is_dir():
        raise UsageError(f"--labels-from {labels_from}: not a folder of mask images")
    dev = runtime.resolve_device(device)
    runtime.configure_backends(dev)
    prec = runtime.choose_precision(dev, precision)
    if seed is not None:
        runtime.seed_everything(seed)  # before the network's initialisation

    st = _load_or_create(model_dir, face_type, batch_size, init_from, dev, pretrain)
    ft, is_pretrain = st.options["face_type"], bool(st.options["pretrain"])
    samples = load_samples(aligned_dirs, ft, labels_from, pretrain=is_pretrain)
    if not samples:
        where = ", ".join(str(d) for d in aligned_dirs)
        if is_pretrain:
            raise UsageError(f"no faces in {where} to pretrain XSeg on")
        raise UsageError(f"no labelled faces in {where}: label faces with polygons (DFL's XSeg editor), "
                         "give --labels-from DIR of mask PNGs named like the faces, or apply masks first")
    batcher = Batcher(samples, batch_size, np.random.default_rng(seed), augment, is_pretrain)
    if seed is None and "rng" in st.extra:  # resume exactly where the last session stopped
        restore_torch_rng(dict(st.extra["rng"]), dev)
        if not batcher.restore(dict(st.extra.get("batches") or {})):
            detail("the faceset changed since the last session: a new batch order")
    info(f"XSeg {'pretraining' if is_pretrain else 'training'} on {len(samples)} "
         f"{'' if is_pretrain else 'labelled '}faces, face type {ft}, batch {batch_size}, {dev.type} {prec.name}")

    engine = XSegEngine(model_dir, st, samples, batcher, dev, prec, on_iteration)
    end = run_loop(engine, LoopPlan(target=target_iter, max_iters=iterations, save_every_min=save_every_min,
                                    preview_every_min=preview_every_min))
    if engine.saved and not end.stopped:
        info(f"XSeg model saved at iteration {st.iteration} in {model_dir}")
    return XSegTrainResult(st.iteration, engine.losses, engine.saved, len(samples))
