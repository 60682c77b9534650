"""Training samples as DFL makes them, decoded once and fed from worker processes (or augmented on the GPU).

Pipeline:
1. `build_cache` decodes every face of a faceset once (a process pool), re-frames it to the model's face
   type and resolution, and keeps uint8 crops + masks + yaw in RAM, or in an unlinked on-disk memory map
   when RAM is short (so a crash leaves no cache file behind).
2. `BatchMaker.make(iteration)` builds one iteration's src and dst batches. Every random choice comes from
   a generator seeded by (seed, side, iteration, position in the global batch), so the batch sequence is a
   pure function of the seed: resuming at iteration N replays exactly what an uninterrupted run would
   have seen, whatever the worker count or number of GPUs (each rank builds only its slice).
3. `make_loader` runs `BatchMaker` in DataLoader worker processes. With `gpu_geometry`, workers only pick
   faces and do colour work; the warp/affine/flip runs on the device as one batched `grid_sample`
   (`finish_batch`).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from neuface.console import track, warn
from neuface.dfl.facetype import face_type_name
from neuface.errors import UsageError
from neuface.imaging.color_transfer import color_transfer
from neuface.train.samples import check_face_type, prepare_face
from neuface.train.warp import GpuWarper, apply_warp, gen_warp_params, sampling_grid

if TYPE_CHECKING:
    import torch

YAW_BINS = 128
YAW_RANGE = 1.2
SIDES = ("src", "dst")


@dataclass
class FaceCache:
    """All faces of one faceset at the model's framing: crops (N,R,R,3) and masks (N,R,R,2) uint8, yaws (N,)."""

    crops: np.ndarray
    masks: np.ndarray
    yaws: np.ndarray
    names: list[str]
    on_disk: bool = False

    def __len__(self) -> int:
        return len(self.names)


def _mem_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def _alloc(shape: tuple[int, ...], on_disk: bool, folder: Path | None) -> np.ndarray:
    if not on_disk:
        return np.empty(shape, np.uint8)
    fd, name = tempfile.mkstemp(prefix=".neuface-cache-", suffix=".u8", dir=folder)
    os.close(fd)
    try:
        arr = np.memmap(name, dtype=np.uint8, mode="w+", shape=shape)
    finally:
        os.unlink(name)  # the mapping stays valid; nothing is left behind after a crash
    return arr


# Pool workers read the faceset inherited through fork (not pickled per task).
_POOL_STATE: dict[str, Any] = {}


def _prepare_one(i: int) -> tuple[int, Any]:
    fs, res, face_type = _POOL_STATE["faceset"], _POOL_STATE["res"], _POOL_STATE["face_type"]
    try:
        rec = fs[i]
        return i, prepare_face(rec.load_image(), rec.meta, res, face_type)
    except Exception as exc:  # noqa: BLE001 - an unreadable face is skipped and counted, never fatal
        return i, exc


def open_faceset(aligned_dir: Path, label: str):
    """The Faceset at `aligned_dir` (folder or faceset.pak), with clear errors for a missing or empty one."""
    from neuface.faceset import Faceset

    if not aligned_dir.is_dir():
        raise UsageError(f"{aligned_dir}: {label} faceset not found (run `neuface detect {label}` first)")
    fs = Faceset.open(aligned_dir)
    if len(fs) == 0:
        raise UsageError(f"{aligned_dir}: {label} faceset is empty")
    return fs


def build_cache(aligned_dir: Path, res: int, face_type: str, label: str = "src", *, workers: int | None = None,
                on_disk: bool | None = None, disk_dir: Path | None = None) -> FaceCache:
    """Decode and frame every face once. Faces of a smaller face type than the model's are an error (DFL's rule);
    unreadable faces are skipped with a warning giving their count."""
    face_type = face_type_name(face_type)
    fork_safe_cv2()
    fs = open_faceset(Path(aligned_dir), label)
    n = len(fs)
    for rec in fs:
        check_face_type(rec.meta.face_type, face_type, f"{aligned_dir}/{rec.name}")
    need = n * res * res * 5
    if on_disk is None:
        on_disk = need > _mem_available() // 2
    crops = _alloc((n, res, res, 3), on_disk, disk_dir)
    masks = _alloc((n, res, res, 2), on_disk, disk_dir)
    yaws = np.zeros(n, np.float32)
    ok = np.zeros(n, bool)
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    _POOL_STATE.update(faceset=fs, res=res, face_type=face_type)
    errors: list[str] = []
    try:
        if workers > 1 and n >= 16:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(workers) as pool:
                results = pool.imap_unordered(_prepare_one, range(n), chunksize=8)
                _store(track(results, n, f"caching {label} faces", "faces"), crops, masks, yaws, ok, errors, fs)
        else:
            results = map(_prepare_one, range(n))
            _store(track(results, n, f"caching {label} faces", "faces"), crops, masks, yaws, ok, errors, fs)
    finally:
        _POOL_STATE.clear()
    if errors:
        warn(f"{aligned_dir}: skipped {len(errors)} unreadable face(s) of {n} (first: {errors[0]})")
    if not ok.any():
        raise UsageError(f"{aligned_dir}: none of the {n} {label} faces could be read")
    keep = np.flatnonzero(ok)
    names = [fs[int(i)].name for i in keep]
    if len(keep) < n:
        crops, masks, yaws = crops[keep], masks[keep], yaws[keep]
    return FaceCache(crops=crops, masks=masks, yaws=yaws, names=names, on_disk=on_disk)


def _store(results, crops, masks, yaws, ok, errors, fs) -> None:
    for i, face in results:
        if isinstance(face, Exception):
            errors.append(f"{fs[i].name}: {face}")
            continue
        crops[i], masks[i], yaws[i], ok[i] = face.crop, face.masks, face.yaw, True


@dataclass
class SideAugment:
    """Per-side sample options (SAEHD: src flips off, dst flips on; ct and hsv only on src)."""

    flip: bool = False
    warp: bool = True
    transform: bool = True
    ct_mode: str | None = None
    hsv_power: float = 0.0
    uniform_yaw: bool = False


def yaw_buckets(yaws: np.ndarray, bins: int = YAW_BINS, span: float = YAW_RANGE) -> list[np.ndarray]:
    """DFL's uniform-yaw grouping: faces by yaw into `bins` equal bins over [-span, span]; empty bins dropped.
    Yaws outside the span fall into the end bins."""
    edges = np.linspace(-span, span, bins + 1)
    which = np.clip(np.searchsorted(edges, yaws, side="right") - 1, 0, bins - 1)
    return [np.flatnonzero(which == b) for b in range(bins) if (which == b).any()]


def random_hsv(img: np.ndarray, power: float, rng: np.random.Generator) -> np.ndarray:
    """DFL's random_hsv_shift: hue +-power*180 deg, saturation and value +-power/2; float BGR in [0,1]."""
    hue_amount = max(1, int(360 * power * 0.5))
    h, s, v = cv2.split(cv2.cvtColor(np.asarray(img, np.float32), cv2.COLOR_BGR2HSV))
    h = ((h + float(rng.integers(-hue_amount, hue_amount + 1))) % 360).astype(np.float32)
    s = np.clip(s + float(rng.random() * power - power * 0.5), 0, 1).astype(np.float32)
    v = np.clip(v + float(rng.random() * power - power * 0.5), 0, 1).astype(np.float32)
    return np.clip(cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR), 0, 1)


def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


@dataclass
class BatchMaker:
    """Builds iteration `i`'s batch slice for one rank. See the module docstring for the seeding scheme."""

    src: FaceCache
    dst: FaceCache
    batch_size: int  # per rank
    seed: int
    src_aug: SideAugment
    dst_aug: SideAugment
    gpu_geometry: bool = False
    rank: int = 0
    world: int = 1
    _perm_cache: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)
    _buckets: dict[int, list[np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def res(self) -> int:
        return int(self.src.crops.shape[1])

    def _pick(self, side: int, cache: FaceCache, aug: SideAugment, j: int, rng: np.random.Generator) -> int:
        if aug.uniform_yaw:
            buckets = self._buckets.get(side)
            if buckets is None:
                buckets = self._buckets[side] = yaw_buckets(cache.yaws)
            members = buckets[int(rng.integers(len(buckets)))]
            return int(members[int(rng.integers(len(members)))])
        # Epoch-wise shuffling (as DFL's index host): position j of the endless sample stream.
        n = len(cache)
        epoch, pos = divmod(j, n)
        key = (side, epoch)
        perm = self._perm_cache.get(key)
        if perm is None:
            if len(self._perm_cache) > 8:
                self._perm_cache.clear()
            perm = self._perm_cache[key] = np.random.default_rng([self.seed, side, epoch, 7]).permutation(n)
        return int(perm[pos])

    def side_batch(self, side: int, iteration: int) -> dict[str, np.ndarray]:
        cache, aug = (self.src, self.src_aug) if side == 0 else (self.dst, self.dst_aug)
        res, b = self.res, self.batch_size
        global_b = b * self.world
        out: dict[str, list[np.ndarray]] = {}
        for k in range(b):
            j = iteration * global_b + self.rank * b + k
            rng = np.random.default_rng([self.seed, side, iteration, j])
            idx = self._pick(side, cache, aug, j, rng)
            crop = cache.crops[idx]
            masks = cache.masks[idx]
            params = gen_warp_params(res, rng, flip=aug.flip, warp=aug.warp, transform=aug.transform)
            target = None
            if aug.ct_mode:
                ref = self.dst.crops[int(rng.integers(len(self.dst)))].astype(np.float32) / 255
                target = color_transfer(aug.ct_mode, crop.astype(np.float32) / 255, ref, rng=rng)
            warped = None
            if aug.hsv_power > 0:
                base = target if target is not None else crop.astype(np.float32) / 255
                warped = random_hsv(base, aug.hsv_power, rng)
            if self.gpu_geometry:
                tgt_u8 = crop if target is None else _to_u8(target)
                parts = {"target_u8": tgt_u8, "warped_u8": tgt_u8 if warped is None else _to_u8(warped),
                         "masks_u8": masks, "grid_target": sampling_grid(params, warp=False),
                         "grid_warped": sampling_grid(params, warp=aug.warp)}
            else:
                tgt = target if target is not None else crop.astype(np.float32) / 255
                wrp = warped if warped is not None else tgt
                m = apply_warp(masks.astype(np.float32) / 255, params, warp=False, is_mask=True)
                parts = {"warped": apply_warp(wrp, params, warp=aug.warp).transpose(2, 0, 1),
                         "target": apply_warp(tgt, params, warp=False).transpose(2, 0, 1),
                         "target_m": m[..., :1].transpose(2, 0, 1), "target_em": m[..., 1:].transpose(2, 0, 1)}
            for key, val in parts.items():
                out.setdefault(key, []).append(val)
        return {k: np.ascontiguousarray(np.stack(v)) for k, v in out.items()}

    def make(self, iteration: int) -> dict[str, Any]:
        """{'iteration': i, 'src': {...}, 'dst': {...}}: float32 NCHW arrays (CPU geometry) or uint8 + grids."""
        return {"iteration": iteration, "src": self.side_batch(0, iteration), "dst": self.side_batch(1, iteration)}


def finish_batch(batch: dict[str, Any], device: torch.device, warper: GpuWarper | None = None) -> dict[str, Any]:
    """Move a loader batch to the device; for GPU-geometry batches, run the batched warp there."""
    import torch

    out: dict[str, Any] = {"iteration": int(batch["iteration"])}
    for side in SIDES:
        part = {k: torch.as_tensor(v) for k, v in batch[side].items()}
        if "grid_target" in part:
            warper = warper or GpuWarper(device)
            m = warper.masks(part["masks_u8"], part["grid_target"])
            out[side] = {"warped": warper.images(part["warped_u8"], part["grid_warped"]),
                         "target": warper.images(part["target_u8"], part["grid_target"]),
                         "target_m": m[:, :1], "target_em": m[:, 1:]}
        else:
            out[side] = {k: v.to(device, non_blocking=True) for k, v in part.items()}
    return out


class _BatchStream:
    """An endless stream of batches from `start`; worker w of W makes iterations start+w, start+w+W, ..."""

    def __init__(self, maker: BatchMaker, start: int):
        self.maker, self.start = maker, start

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import torch.utils.data as tud

        info = tud.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        it = self.start + wid
        while True:
            yield self.maker.make(it)
            it += nw


def fork_safe_cv2() -> None:
    """OpenCV's thread pool does not survive fork (a child touching it deadlocks), so the training process
    runs OpenCV single-threaded and gets its parallelism from worker processes instead."""
    cv2.setNumThreads(1)


def _worker_init(_: int) -> None:
    import torch

    torch.set_num_threads(1)


class Loader:
    """Batches in iteration order; `close()` stops the worker processes (the stream itself never ends)."""

    def __init__(self, it: Iterator[dict[str, Any]], owner: Any = None):
        self._it, self._owner = it, owner

    def __iter__(self) -> Loader:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._it)

    def close(self) -> None:
        shutdown = getattr(self._it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        self._it = iter(())

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_loader(maker: BatchMaker, start: int, workers: int, pin_memory: bool = False) -> Loader:
    """Batches from `start` on, in order. workers=0 builds them in this process (DataLoader otherwise)."""
    import torch.utils.data as tud

    fork_safe_cv2()
    stream = _BatchStream(maker, start)
    if workers <= 0:
        return Loader(iter(stream))

    class _Iterable(tud.IterableDataset):
        def __iter__(self):
            return iter(stream)

    loader = tud.DataLoader(_Iterable(), batch_size=None, num_workers=workers, prefetch_factor=4,
                            worker_init_fn=_worker_init, pin_memory=pin_memory,
                            multiprocessing_context="fork")
    return Loader(iter(loader), loader)


def default_workers(device_type: str) -> int:
    """CPU training keeps most cores for the model; a GPU run gives the loader all but one core."""
    cores = os.cpu_count() or 1
    if device_type == "cpu":
        return 1 if cores <= 4 else max(1, cores // 4)
    return max(1, min(8, cores - 1))


def preview_indices(n: int, count: int) -> list[int]:
    """Fixed faces for previews, spread over the faceset (stable across resumes)."""
    count = min(n, count)
    return [int(math.floor(i * n / count)) for i in range(count)]
