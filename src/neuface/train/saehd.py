"""`neuface train`: SAEHD training - fed from the data pipeline, crash-safe, resumable, multi-GPU.

One iteration: the loader's next batch -> device (plus the batched GPU warp) -> one model step; saves,
previews, backups, the stop on SIGINT/SIGTERM and the status line are the shared loop's
(`neuface.training.loop`). A backup holds a verified `.dfm` when the caller passes `backup_dfm`
(`neuface.export.dfm.export_dfm`). Under `torchrun`, every rank trains its slice of the batch and only
rank 0 writes files.
"""

from __future__ import annotations

from typing import Any

from neuface.console import info
from neuface.errors import UsageError
from neuface.train.engine import DfmWriter, TrainRun
from neuface.workspace import Side, Workspace


def _units(dev: Any) -> str:
    return "GPUs" if dev.type == "cuda" else "processes"


def train_saehd(workspace: Workspace, run: TrainRun, device: str = "auto", precision: str = "auto",
                backup_dfm: DfmWriter | None = None) -> int:
    """Train until the target iteration, `run.max_iters`, or a signal. Returns the iteration reached."""
    from neuface.runtime import configure_backends, resolve_device
    from neuface.train import ddp
    from neuface.train.data import BatchMaker, build_cache, default_workers, finish_batch, make_loader
    from neuface.train.engine import SaehdEngine, side_augments
    from neuface.train.warp import GpuWarper
    from neuface.training.loop import LoopPlan, run_loop

    dist = ddp.setup(device)
    ddp.quiet_other_ranks(dist)
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
    engine.backup_dfm = backup_dfm
    src_aug, dst_aug = side_augments(opts)
    if opts.get("pretrain"):  # DFL trains both sides on one pretraining faceset; ours is src + dst together
        src = dst = _union(src, dst)
    gpu_geometry = dev.type == "cuda"
    maker = BatchMaker(src, dst, global_batch // dist.world, engine.seed, src_aug, dst_aug,
                       gpu_geometry=gpu_geometry, rank=dist.rank, world=dist.world)
    workers = run.workers if run.workers is not None else default_workers(dev.type)
    loader = make_loader(maker, engine.iteration, workers, pin_memory=dev.type == "cuda")
    warper = GpuWarper(dev) if gpu_geometry else None
    engine.batches = (finish_batch(b, dev, warper) for b in loader)
    engine.preview_batch = _preview_batch(maker, dev)

    info(f"training {engine.model_id} ({opts['archi']}, {res}px {face_type}, batch {global_batch}"
         f"{f' on {dist.world} {_units(dev)}' if dist.world > 1 else ''}) from iteration {engine.iteration}; "
         f"{len(src)} src / {len(dst)} dst faces; Ctrl-C saves and stops")
    plan = LoopPlan(target=int(opts.get("target_iter") or 0), max_iters=run.max_iters,
                    save_every_min=run.save_every_min, preview_every_min=run.preview_every_min,
                    backup_every=run.backup_every, autobackup_hours=int(opts.get("autobackup_hour") or 0))
    end = run_loop(engine, plan)
    ddp.teardown(dist)
    return end.iteration


def _union(a: Any, b: Any) -> Any:
    import numpy as np

    from neuface.train.data import FaceCache

    return FaceCache(crops=np.concatenate([a.crops, b.crops]), masks=np.concatenate([a.masks, b.masks]),
                     yaws=np.concatenate([a.yaws, b.yaws]), names=a.names + b.names)


def _preview_batch(maker: Any, dev: Any) -> dict[str, Any]:
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
