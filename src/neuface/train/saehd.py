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


def train_saehd(workspace: Workspace, run: TrainRun, device: str = "auto", precision: str = "auto",
                backup_dfm: DfmWriter | None = None) -> int:
    """Train until the target iteration, `run.max_iters`, or a signal. Returns the iteration reached."""
    from neuface.runtime import configure_backends, resolve_device
    from neuface.train import ddp
    from neuface.train.data import BatchMaker, build_cache, default_workers, finish_batch, make_loader
    from neuface.train.engine import SaehdEngine, fingerprint, side_augments
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

    with ddp.rank_zero_first(dist):
        src = build_cache(workspace.aligned_dir(Side.src), res, face_type, "src")
        dst = build_cache(workspace.aligned_dir(Side.dst), res, face_type, "dst")
    engine.model.extra["faceset_fingerprints"] = {"src": fingerprint(src), "dst": fingerprint(dst)}
    engine.probe_faces = [dst.crops[i] for i in range(min(4, len(dst)))]
    engine.backup_dfm = backup_dfm
    src_aug, dst_aug = side_augments(opts)
    if opts.get("pretrain"):  # DFL trains both sides on one pretraining faceset; ours is src + dst together
        src = dst = _union(src, dst)
    cuda = dev.type == "cuda"  # the warp and its geometry on the GPU
    maker = BatchMaker(src, dst, global_batch // dist.world, int(engine.model.extra["seed"]), src_aug, dst_aug,
                       gpu_geometry=cuda, rank=dist.rank, world=dist.world)
    workers = run.workers if run.workers is not None else default_workers(dev.type)
    loader = make_loader(maker, engine.iteration, workers, pin_memory=cuda)
    warper = GpuWarper(dev) if cuda else None
    engine.batches = (finish_batch(b, dev, warper) for b in loader)
    engine.preview_faces = _preview_faces(maker, dev)

    units = "GPUs" if cuda else "processes"
    info(f"training {engine.ref.model_name} ({opts['archi']}, {res}px {face_type}, batch {global_batch}"
         f"{f' on {dist.world} {units}' if dist.world > 1 else ''}) from iteration {engine.iteration}; "
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


def _preview_faces(maker: Any, dev: Any) -> tuple[Any, Any]:
    """Up to 4 fixed, un-augmented faces per side for previews (the same every session), NCHW float on `dev`."""
    import numpy as np
    import torch

    from neuface.train.data import preview_indices

    def faces(cache: Any) -> Any:
        crops = cache.crops[preview_indices(len(cache), 4)]
        return torch.from_numpy(crops.astype(np.float32).transpose(0, 3, 1, 2) / 255).to(dev)

    return faces(maker.src), faces(maker.dst)
