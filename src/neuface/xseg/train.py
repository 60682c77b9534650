"""XSeg training (`neuface train --kind xseg`): DFL's Model_XSeg in PyTorch, writing DFL's model files.

Samples are the faces of the given aligned folders/paks that carry labels (§6.3): imported mask images
(`labels_from`) first, then XSeg-editor polygons (`seg_ie_polys`); when no face has either, faces with a
stored `xseg_mask` (binarised at 0.5). Loss is DFL's per-sample mean sigmoid cross-entropy, its batch sum
differentiated; optimizer DFL's RMSprop (lr 1e-4, lr_dropout 0.3). Saves `XSeg_256.npy`,
`XSeg_256_opt.npy` and `XSeg_data.dat` (each atomic, data.dat last so it never claims unsaved weights)
every `save_every_min`, at the end and on Ctrl+C; an existing model folder resumes.
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
from neuface.workspace import IMAGE_EXTENSIONS
from neuface.xseg.augment import augment as augment_sample
from neuface.xseg.framing import has_poly_points, rasterize_polys, sample_to_xseg
from neuface.xseg.net import XSeg
from neuface.xseg.optim import DFLRMSprop
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
                 labels_from: Path | None = None) -> list[XSegSample]:
    """Every labelled face of `aligned_dirs`, framed for XSeg (DFL's choice of samples, §6.3)."""
    from neuface.faceset import Faceset

    labelled: list[tuple[object, np.ndarray | None]] = []
    masked: list[object] = []
    for d in aligned_dirs:
        fs = Faceset.open(d)
        for rec in fs:
            label = None
            if labels_from is not None:
                lf = _label_file(labels_from, rec.name)
                if lf is not None:
                    label = lf
            if label is not None or has_poly_points(rec.meta.seg_ie_polys):
                labelled.append((rec, label))
            elif rec.meta.xseg_mask is not None:
                masked.append(rec)
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
    """Shuffled epochs of augmented samples; backgrounds drawn from the other samples, as DFL does."""

    def __init__(self, samples: list[XSegSample], batch_size: int, rng: np.random.Generator, augment: bool):
        self.samples, self.batch_size, self.rng, self.augment = samples, batch_size, rng, augment
        self.order: list[int] = []

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
                img, mask = augment_sample(s.image, s.mask.astype(np.float32), self.rng,
                                           other if len(self.samples) > 1 else None)
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


def _load_or_create(model_dir: Path, face_type: str | None, batch_size: int, init_from: Path | None,
                    device: torch.device) -> _State:
    net = XSeg()
    wpath, opath, dpath = model_dir / WEIGHTS_NAME, model_dir / OPT_NAME, model_dir / DATA_NAME
    iteration, history = 0, []
    options: dict = {}
    if wpath.is_file():
        load_dfl_state(net, read_pickle(wpath.read_bytes(), str(wpath)), str(wpath))
        if dpath.is_file():
            data = parse_data_dat(dpath.read_bytes(), str(dpath))
            iteration = int(data.get("iter", 0))
            options = dict(data.get("options", {}))
            history = [list(map(float, row)) for row in data.get("loss_history", []) or []]
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
    options = {**options, "face_type": ft, "pretrain": bool(options.get("pretrain", False)),
               "batch_size": int(batch_size)}
    net = net.to(device).train()
    opt = DFLRMSprop(net)
    if wpath.is_file() and opath.is_file():
        acc, iters = opt_from_dfl(net, read_pickle(opath.read_bytes(), str(opath)), str(opath))
        opt.load_state(acc, iters)
    elif wpath.is_file() and iteration > 0:
        warn(f"{opath} missing: optimizer state starts from zero")
    return _State(net, opt, iteration, options, history)


def save_model(model_dir: Path, st: _State) -> list[Path]:
    """Write the three DFL files atomically; data.dat last, so it never names weights not yet on disk."""
    model_dir.mkdir(parents=True, exist_ok=True)
    files = [model_dir / WEIGHTS_NAME, model_dir / OPT_NAME, model_dir / DATA_NAME]
    atomic_write_bytes(files[0], dumps_compat(state_to_dfl(st.net), protocol=4))
    atomic_write_bytes(files[1], dumps_compat(opt_to_dfl(st.net, st.opt.acc, st.opt.iterations), protocol=4))
    atomic_write_bytes(files[2], make_data_dat(st.iteration, st.options, st.loss_history))
    return files


def train_step(net: XSeg, opt: DFLRMSprop, images: np.ndarray, masks: np.ndarray, device: torch.device,
               precision: runtime.Precision, scaler: object) -> float:
    """One DFL XSeg step; returns the batch-mean loss (what DFL logs)."""
    x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2)
    y = torch.from_numpy(masks).to(device).permute(0, 3, 1, 2)
    opt.zero_grad()
    with runtime.autocast(device, precision):
        logits = net(x)
    per_sample = F.binary_cross_entropy_with_logits(logits.float(), y, reduction="none").mean(dim=(1, 2, 3))
    scaler.scale(per_sample.sum()).backward()  # type: ignore[attr-defined]
    if scaler.is_enabled():  # type: ignore[attr-defined]
        # fp16: our optimizer is not a torch.optim one, so unscale by hand; skip the step and halve the
        # scale on overflow (no growth: XSeg's FRN-normalised activations rarely need it).
        scale = float(scaler.get_scale())  # type: ignore[attr-defined]
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        for g in grads:
            g.div_(scale)
        finite = all(bool(torch.isfinite(g).all()) for g in grads)
        if finite:
            opt.step()
        scaler.update(scale if finite else scale * 0.5)  # type: ignore[attr-defined]
    else:
        opt.step()
    return float(per_sample.detach().mean())


def train_xseg(model_dir: Path, aligned_dirs: Sequence[Path], *, iterations: int | None = None,
               target_iter: int = 0, face_type: str | None = None, batch_size: int = 4,
               init_from: Path | None = None, labels_from: Path | None = None, device: str = "auto",
               precision: str = "auto", save_every_min: float = 25.0, augment: bool = True,
               seed: int | None = None, on_iteration: Callable[[int, float], None] | None = None
               ) -> XSegTrainResult:
    """Train (or resume) the XSeg model in `model_dir` on the labelled faces of `aligned_dirs`.

    Stops after `iterations` steps this session, or when the model reaches `target_iter` (0 = no target);
    with neither it runs until Ctrl+C. Always saves before returning (Ctrl+C saves, then re-raises).
    """
    if not 1 <= batch_size <= 64:
        raise UsageError(f"--batch-size {batch_size}: expected 1..64 (DFL allows 2..16)")
    dev = runtime.resolve_device(device)
    runtime.configure_backends(dev)
    prec = runtime.choose_precision(dev, precision)
    if seed is not None:
        runtime.seed_everything(seed)
    rng = np.random.default_rng(seed)

    st = _load_or_create(model_dir, face_type, batch_size, init_from, dev)
    ft = st.options["face_type"]
    samples = load_samples(aligned_dirs, ft, labels_from)
    if not samples:
        where = ", ".join(str(d) for d in aligned_dirs)
        raise UsageError(f"no labelled faces in {where}: label faces with polygons (DFL's XSeg editor), "
                         "give --labels-from DIR of mask PNGs named like the faces, or apply masks first")
    info(f"XSeg training on {len(samples)} labelled faces, face type {ft}, batch {batch_size}, "
         f"{dev.type} {prec.name}")
    if target_iter and st.iteration >= target_iter:
        info(f"model is already at iteration {st.iteration} >= target {target_iter}")
        return XSegTrainResult(st.iteration, saved=save_model(model_dir, st), samples=len(samples))

    steps = iterations
    if target_iter:
        steps = min(steps, target_iter - st.iteration) if steps is not None else target_iter - st.iteration
    batcher = _Batcher(samples, batch_size, rng, augment)
    scaler = runtime.grad_scaler(dev, prec)
    result = XSegTrainResult(st.iteration, samples=len(samples))
    last_save = time.monotonic()
    done = 0
    try:
        with make_progress("it") as progress:
            task = progress.add_task("XSeg", total=steps, rate="")
            t0 = time.perf_counter()
            while steps is None or done < steps:
                imgs, masks = batcher.next()
                loss = train_step(st.net, st.opt, imgs, masks, dev, prec, scaler)
                st.iteration += 1
                done += 1
                st.loss_history.append([loss])
                result.losses.append(loss)
                if on_iteration is not None:
                    on_iteration(st.iteration, loss)
                rate = done / max(time.perf_counter() - t0, 1e-9)
                progress.update(task, advance=1, rate=f"loss {loss:.4f}  {rate:.2f} it/s")
                if save_every_min > 0 and time.monotonic() - last_save >= save_every_min * 60:
                    save_model(model_dir, st)
                    detail(f"saved XSeg model at iteration {st.iteration}")
                    last_save = time.monotonic()
    except KeyboardInterrupt:
        save_model(model_dir, st)
        warn(f"interrupted: XSeg model saved at iteration {st.iteration}")
        raise
    result.iteration = st.iteration
    result.saved = save_model(model_dir, st)
    info(f"XSeg model saved at iteration {st.iteration} in {model_dir}")
    return result
