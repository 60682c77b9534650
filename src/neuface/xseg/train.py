"""XSeg training (`neuface train --kind xseg`): DFL's Model_XSeg in PyTorch, writing DFL's model files.

Samples are the faces of the given aligned folders/paks that carry labels (§6.3): imported mask images
(`labels_from`, used for training only: the faces' files are not changed) first, then XSeg-editor polygons
(`seg_ie_polys`); when no face has either, faces with a stored `xseg_mask` (binarised at 0.5). Loss is DFL's
per-sample mean sigmoid cross-entropy, its batch sum differentiated; optimizer DFL's RMSprop (lr 1e-4,
lr_dropout 0.3). Pretrain mode (DFL's `pretrain` option) needs no labels: every face, skips zeroed, the
network reconstructs the grey face (5·DSSIM(22) + 5·DSSIM(11) + 10·MSE). Saves `XSeg_256.npy`,
`XSeg_256_opt.npy`, `XSeg_data.dat` (each atomic, data.dat last so it never claims unsaved weights) and
`XSeg_summary.txt` every `save_every_min`, at the end and on Ctrl+C; an existing model folder resumes with
its RNG streams (batch order, augmentation, lr_dropout masks), kept in data.dat's neuface-only key.
fp16 uses the runtime's GradScaler (skips overflowing steps, halves, and grows the scale back).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from neuface import runtime
from neuface.atomic import atomic_write_bytes
from neuface.console import detail, info, make_progress, warn
from neuface.detect.align import SHORT_FACE_TYPES, face_type_name
from neuface.errors import UsageError
from neuface.safe_pickle import dumps_compat
from neuface.train.losses import dssim
from neuface.train.rng import restore_torch_rng, torch_rng_state
from neuface.workspace import IMAGE_EXTENSIONS
from neuface.xseg.augment import augment as augment_sample
from neuface.xseg.framing import has_poly_points, rasterize_polys, sample_to_xseg
from neuface.xseg.net import XSeg
from neuface.xseg.optim import DFLRMSprop
from neuface.xseg.preview import grey, write_preview, write_summary
from neuface.xseg.weights import (
    DATA_NAME,
    OPT_NAME,
    WEIGHTS_NAME,
    find_xseg_files,
    load_dfl_state,
    make_data_dat,
    opt_from_dfl,
    opt_to_dfl,
    parse_data_dat,
    read_pickle,
    state_to_dfl,
)

DEFAULT_FACE_TYPE = "wf"
_SHORT_BY_NAME = {v: k for k, v in SHORT_FACE_TYPES.items()}


@dataclass
class XSegSample:
    """One labelled face in XSeg's framing: uint8 BGR (256,256,3) and uint8 0/1 mask (256,256)."""

    name: str
    image: np.ndarray
    mask: np.ndarray


@dataclass
class XSegTrainResult:
    iteration: int  # total iterations of the model after this session
    losses: list[float] = field(default_factory=list)  # this session's per-iteration mean batch loss
    saved: list[Path] = field(default_factory=list)
    samples: int = 0


def short_face_type(ft: str) -> str:
    """XSeg stores its face type as a short code ('wf'); accept any DFL name or code."""
    name = face_type_name(ft)
    if name not in _SHORT_BY_NAME:
        raise UsageError(f"XSeg face type must be one of {', '.join(SHORT_FACE_TYPES)}, not {ft!r}")
    return _SHORT_BY_NAME[name]


def _label_file(labels_dir: Path, name: str) -> Path | None:
    rel = Path(name)
    for base in (labels_dir / rel.parent, labels_dir):
        for ext in (".png", *[e for e in IMAGE_EXTENSIONS if e != ".png"]):
            p = base / (rel.stem + ext)
            if p.is_file():
                return p
    return None


def _read_label(path: Path, shape: tuple[int, int]) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UsageError(f"{path}: not a readable mask image")
    if img.ndim == 3:
        img = img[..., 3] if img.shape[2] == 4 and img[..., :3].max() == 0 else img[..., 0]
    m = img.astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
    if m.shape != shape:
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return (m >= 0.5).astype(np.float32)


def load_samples(aligned_dirs: Sequence[Path], xseg_face_type: str,
                 labels_from: Path | None = None, pretrain: bool = False) -> list[XSegSample]:
    """Every labelled face of `aligned_dirs`, framed for XSeg (DFL's choice of samples, §6.3).

    Pretrain mode needs no labels: every face, with an empty mask.
    """
    from neuface.faceset import Faceset

    labelled: list[tuple[object, Path | None]] = []
    masked: list[object] = []
    unlabelled: list[object] = []
    for d in aligned_dirs:
        fs = Faceset.open(d)
        for rec in fs:
            label = _label_file(labels_from, rec.name) if labels_from is not None else None
            if label is not None or has_poly_points(rec.meta.seg_ie_polys):
                labelled.append((rec, label))
            elif rec.meta.xseg_mask is not None:
                masked.append(rec)
            else:
                unlabelled.append(rec)
    if pretrain:
        samples = []
        for rec in [r for r, _ in labelled] + masked + unlabelled:
            img = rec.load_image()
            blank = np.zeros(img.shape[:2], np.float32)
            fimg, _ = sample_to_xseg(img, blank, rec.meta.face_type, rec.meta.landmarks, xseg_face_type)
            samples.append(XSegSample(rec.name, fimg, np.zeros(fimg.shape[:2], np.uint8)))
        return samples
    if not labelled and masked:
        info(f"no polygon labels found: training on {len(masked)} faces' stored XSeg masks")
        labelled = [(rec, None) for rec in masked]
    samples: list[XSegSample] = []
    for rec, label in labelled:
        img = rec.load_image()
        shape = img.shape[:2]
        if isinstance(label, Path):
            mask = _read_label(label, shape)
        elif has_poly_points(rec.meta.seg_ie_polys):
            mask = rasterize_polys(rec.meta.seg_ie_polys, shape)
        else:
            m = rec.meta.get_xseg_mask()[..., 0]
            m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LANCZOS4) if m.shape != shape else m
            mask = (m >= 0.5).astype(np.float32)
        fimg, fmask = sample_to_xseg(img, mask, rec.meta.face_type, rec.meta.landmarks, xseg_face_type)
        samples.append(XSegSample(rec.name, fimg, (fmask >= 0.5).astype(np.uint8)))
    return samples


class _Batcher:
    """Shuffled epochs of augmented samples; backgrounds drawn from the other samples, as DFL does.

    `state()`/`restore()` carry the generator and the rest of the epoch across a resume.
    """

    def __init__(self, samples: list[XSegSample], batch_size: int, rng: np.random.Generator, augment: bool,
                 pretrain: bool = False):
        self.samples, self.batch_size, self.rng, self.augment = samples, batch_size, rng, augment
        self.pretrain = pretrain
        self.order: list[int] = []

    def state(self) -> dict:
        return {"numpy": self.rng.bit_generator.state, "order": [int(i) for i in self.order],
                "samples": len(self.samples)}

    def restore(self, state: dict) -> bool:
        """False (nothing changed) when the stored state is for another set of samples."""
        if int(state.get("samples", -1)) != len(self.samples):
            return False
        try:
            self.rng.bit_generator.state = state["numpy"]
        except (KeyError, TypeError, ValueError):
            return False
        self.order = [int(i) for i in state.get("order", []) if 0 <= int(i) < len(self.samples)]
        return True

    def _next_index(self) -> int:
        if not self.order:
            self.order = list(self.rng.permutation(len(self.samples)))
        return self.order.pop()

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        imgs, masks = [], []
        for _ in range(self.batch_size):
            s = self.samples[self._next_index()]
            if self.augment:
                def other() -> np.ndarray:
                    return self.samples[int(self.rng.integers(len(self.samples)))].image
                swap = len(self.samples) > 1 and not self.pretrain  # no labels: no background to swap
                img, mask = augment_sample(s.image, s.mask.astype(np.float32), self.rng, other if swap else None)
            else:
                img, mask = s.image.astype(np.float32) / 255.0, s.mask.astype(np.float32)
            imgs.append(img)
            masks.append(mask)
        return np.stack(imgs), np.stack(masks)[..., None]


@dataclass
class _State:
    net: XSeg
    opt: DFLRMSprop
    iteration: int
    options: dict
    loss_history: list[list[float]]
    extra: dict = field(default_factory=dict)  # data.dat's neuface-only key: RNG streams


def _load_or_create(model_dir: Path, face_type: str | None, batch_size: int, init_from: Path | None,
                    device: torch.device, pretrain: bool | None = None) -> _State:
    net = XSeg()
    wpath, opath, dpath = model_dir / WEIGHTS_NAME, model_dir / OPT_NAME, model_dir / DATA_NAME
    iteration, history = 0, []
    options: dict = {}
    extra: dict = {}
    if wpath.is_file():
        load_dfl_state(net, read_pickle(wpath.read_bytes(), str(wpath)), str(wpath))
        if dpath.is_file():
            data = parse_data_dat(dpath.read_bytes(), str(dpath))
            iteration = int(data.get("iter", 0))
            options = dict(data.get("options", {}))
            history = [list(map(float, row)) for row in data.get("loss_history", []) or []]
            extra = dict(data.get("neuface") or {})
        stored = options.get("face_type")
        if stored and face_type and short_face_type(face_type) != short_face_type(str(stored)):
            warn(f"{dpath}: model was trained for face type {stored!r}; ignoring --face-type {face_type}")
        ft = short_face_type(str(stored or face_type or DEFAULT_FACE_TYPE))
        info(f"resuming XSeg model {wpath} at iteration {iteration}")
    elif init_from is not None:
        files = find_xseg_files([init_from])
        if files is None:
            raise UsageError(f"{init_from}: no XSeg model (XSeg_256.npy or GenericXSeg.zip) to fine-tune from")
        load_dfl_state(net, read_pickle(files.weights, files.weights_name), files.weights_name)
        ft = short_face_type(face_type or files.face_type() or DEFAULT_FACE_TYPE)
        info(f"fine-tuning XSeg from {files.weights_name}")
    else:
        ft = short_face_type(face_type or DEFAULT_FACE_TYPE)
        info("training a new XSeg model from scratch")
    stored_pretrain = bool(options.get("pretrain", False))
    options = {**options, "face_type": ft, "pretrain": stored_pretrain if pretrain is None else bool(pretrain),
               "batch_size": int(batch_size)}
    net = net.to(device).train()
    opt = DFLRMSprop(net)
    if wpath.is_file() and opath.is_file():
        acc, iters = opt_from_dfl(net, read_pickle(opath.read_bytes(), str(opath)), str(opath))
        opt.load_state(acc, iters)
    elif wpath.is_file() and iteration > 0:
        warn(f"{opath} missing: optimizer state starts from zero")
    return _State(net, opt, iteration, options, history, extra)


def save_model(model_dir: Path, st: _State, device: torch.device | None = None) -> list[Path]:
    """Write DFL's files atomically (data.dat after the weights it describes, so it never names weights not yet
    on disk), then the summary."""
    model_dir.mkdir(parents=True, exist_ok=True)
    files = [model_dir / WEIGHTS_NAME, model_dir / OPT_NAME, model_dir / DATA_NAME]
    atomic_write_bytes(files[0], dumps_compat(state_to_dfl(st.net), protocol=4))
    atomic_write_bytes(files[1], dumps_compat(opt_to_dfl(st.net, st.opt.acc, st.opt.iterations), protocol=4))
    atomic_write_bytes(files[2], make_data_dat(st.iteration, st.options, st.loss_history, extra=st.extra))
    files.append(write_summary(model_dir, st.iteration, st.options, device or torch.device("cpu")))
    return files


def _apply(opt: DFLRMSprop, per_sample: torch.Tensor, scaler: torch.amp.GradScaler) -> float:
    """Differentiate the batch sum (DFL's), step through the GradScaler (a plain step when it is disabled)."""
    scaler.scale(per_sample.sum()).backward()
    scaler.step(opt)  # unscales; skips the step when a gradient overflowed
    scaler.update()  # halves on overflow, doubles after growth_interval clean steps
    return float(per_sample.detach().mean())


def train_step(net: XSeg, opt: DFLRMSprop, images: np.ndarray, masks: np.ndarray, device: torch.device,
               precision: runtime.Precision, scaler: torch.amp.GradScaler) -> float:
    """One DFL XSeg step; returns the batch-mean loss (what DFL logs)."""
    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2)
    y = torch.from_numpy(masks).to(device).permute(0, 3, 1, 2)
    opt.zero_grad()
    with runtime.autocast(device, precision):
        logits = net(x)
    per_sample = F.binary_cross_entropy_with_logits(logits.float(), y, reduction="none").mean(dim=(1, 2, 3))
    return _apply(opt, per_sample, scaler)


def pretrain_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DFL's XSeg pretraining loss per sample: 5·DSSIM(k=int(256/11.6)) + 5·DSSIM(k=int(256/23.2)) + 10·MSE."""
    res = pred.shape[-1]
    return (5 * dssim(pred, target, filter_size=int(res / 11.6)).mean(1)
            + 5 * dssim(pred, target, filter_size=int(res / 23.2)).mean(1)
            + 10 * (pred - target).square().mean(dim=(1, 2, 3)))


def pretrain_step(net: XSeg, opt: DFLRMSprop, images: np.ndarray, device: torch.device,
                  precision: runtime.Precision, scaler: torch.amp.GradScaler) -> float:
    """One pretraining step: skips zeroed, sigmoid output against the grey face."""
    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2)
    y = torch.from_numpy(grey(images)).to(device).permute(0, 3, 1, 2)
    opt.zero_grad()
    with runtime.autocast(device, precision):
        logits = net(x, pretrain=True)
    return _apply(opt, pretrain_loss(torch.sigmoid(logits.float()), y), scaler)


@torch.no_grad()
def _preview(model_dir: Path, st: _State, samples: list[XSegSample], device: torch.device,
             precision: runtime.Precision) -> None:
    """The first (up to) 4 samples, un-augmented, through the current network."""
    pretrain = bool(st.options.get("pretrain"))
    picks = samples[:4]
    images = np.stack([s.image for s in picks]).astype(np.float32) / 255.0
    labels = grey(images) if pretrain else np.stack([s.mask for s in picks]).astype(np.float32)[..., None]
    st.net.eval()
    try:
        with runtime.autocast(device, precision):
            logits = st.net(torch.from_numpy(images).to(device).permute(0, 3, 1, 2), pretrain=pretrain)
        out = torch.sigmoid(logits.float()).permute(0, 2, 3, 1).cpu().numpy()
        write_preview(model_dir, st.iteration, images, labels, out, st.loss_history, pretrain)
    except OSError as exc:
        warn(f"XSeg preview not written: {exc}")
    finally:
        st.net.train()


def train_xseg(model_dir: Path, aligned_dirs: Sequence[Path], *, iterations: int | None = None,
               target_iter: int = 0, face_type: str | None = None, batch_size: int = 4,
               init_from: Path | None = None, labels_from: Path | None = None, device: str = "auto",
               precision: str = "auto", save_every_min: float = 25.0, preview_every_min: float = 5.0,
               augment: bool = True, pretrain: bool | None = None, seed: int | None = None,
               on_iteration: Callable[[int, float], None] | None = None) -> XSegTrainResult:
    """Train (or resume) the XSeg model in `model_dir` on the labelled faces of `aligned_dirs`.

    Stops after `iterations` steps this session, or when the model reaches `target_iter` (0 = no target);
    with neither it runs until Ctrl+C. Always saves before returning (Ctrl+C saves, then re-raises).
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
    batcher = _Batcher(samples, batch_size, np.random.default_rng(seed), augment, is_pretrain)
    if seed is None and "rng" in st.extra:  # resume exactly where the last session stopped
        restore_torch_rng(dict(st.extra["rng"]), dev)
        if not batcher.restore(dict(st.extra.get("batches") or {})):
            detail("the faceset changed since the last session: a new batch order")
    info(f"XSeg {'pretraining' if is_pretrain else 'training'} on {len(samples)} "
         f"{'' if is_pretrain else 'labelled '}faces, face type {ft}, batch {batch_size}, {dev.type} {prec.name}")

    def save() -> list[Path]:
        st.extra = {**st.extra, "rng": torch_rng_state(dev), "batches": batcher.state()}
        files = save_model(model_dir, st, dev)
        _preview(model_dir, st, samples, dev, prec)
        return files

    if target_iter and st.iteration >= target_iter:
        info(f"model is already at iteration {st.iteration} >= target {target_iter}")
        return XSegTrainResult(st.iteration, saved=save(), samples=len(samples))

    steps = iterations
    if target_iter:
        steps = min(steps, target_iter - st.iteration) if steps is not None else target_iter - st.iteration
    scaler = runtime.grad_scaler(dev, prec)
    result = XSegTrainResult(st.iteration, samples=len(samples))
    last_save = last_preview = time.monotonic()
    done = 0
    try:
        with make_progress("it") as progress:
            task = progress.add_task("XSeg", total=steps, rate="")
            t0 = time.perf_counter()
            while steps is None or done < steps:
                imgs, masks = batcher.next()
                if is_pretrain:
                    loss = pretrain_step(st.net, st.opt, imgs, dev, prec, scaler)
                else:
                    loss = train_step(st.net, st.opt, imgs, masks, dev, prec, scaler)
                st.iteration += 1
                done += 1
                st.loss_history.append([loss])
                result.losses.append(loss)
                if on_iteration is not None:
                    on_iteration(st.iteration, loss)
                rate = done / max(time.perf_counter() - t0, 1e-9)
                progress.update(task, advance=1, rate=f"loss {loss:.4f}  {rate:.2f} it/s")
                now = time.monotonic()
                if save_every_min > 0 and now - last_save >= save_every_min * 60:
                    save()
                    detail(f"saved XSeg model at iteration {st.iteration}")
                    last_save = last_preview = time.monotonic()
                elif preview_every_min > 0 and now - last_preview >= preview_every_min * 60:
                    _preview(model_dir, st, samples, dev, prec)
                    last_preview = time.monotonic()
    except KeyboardInterrupt:
        save()
        warn(f"interrupted: XSeg model saved at iteration {st.iteration}")
        raise
    result.iteration = st.iteration
    result.saved = save()
    info(f"XSeg model saved at iteration {st.iteration} in {model_dir}")
    return result
