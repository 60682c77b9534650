"""Multi-GPU semantics on CPU with gloo: 2 processes x batch 2 == 1 process x batch 4 with the summed loss halved.

DFL sums each GPU's per-sample losses and averages the GPUs' gradients; our ranks do the same through
`SaehdEngine._sync_replicas` (rank 0's weights broadcast, gradients all-reduced and averaged).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp

from neuface.train import ddp
from neuface.train.engine import SaehdEngine

STEPS = 3


def _setup(seed: int):
    from neuface.train.model import build_model
    from neuface.train.options import SAEHDOptions

    torch.manual_seed(seed)
    opts = SAEHDOptions.default(d_dims=16, resolution=64, ae_dims=32, e_dims=16, d_mask_dims=16, face_type="wf")
    model = build_model(opts)
    for _, opt in model.optimizer_parts():
        opt.fused = False  # no torch.compile in the short-lived test processes
    g = torch.Generator().manual_seed(123)
    batches = []
    for _ in range(STEPS):
        img = lambda c: torch.rand(4, c, 64, 64, generator=g)  # noqa: E731
        batches.append([img(3), img(3), (img(1) > 0.5).float(), img(1), img(3), img(3), (img(1) > 0.5).float(),
                        img(1)])
    return model, batches


def _weights(model) -> dict[str, np.ndarray]:
    return {f"{n}.{k}": v.detach().numpy().copy() for n, part in model.weight_parts()
            for k, v in part.state_dict().items()}


def _rank_main(rank: int, world: int, init_file: str, out: str) -> None:
    import torch.distributed as dist

    from neuface.train.step import SAEHDBatch, SAEHDTrainer

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    model, batches = _setup(seed=rank)  # different init per rank: the broadcast must make them equal
    info = ddp.DistInfo(rank=rank, world=world, device=torch.device("cpu"))
    SaehdEngine._sync_replicas(model, info)
    trainer = SAEHDTrainer(model)
    half = 4 // world
    for b in batches:
        trainer.train_step(SAEHDBatch(*[t[rank * half:(rank + 1) * half] for t in b]))
    np.savez(f"{out}_{rank}.npz", **_weights(model))
    dist.barrier()
    dist.destroy_process_group()


def test_two_ranks_of_batch_2_equal_one_process_of_batch_4_with_halved_loss(tmp_path: Path):
    from neuface.train.step import SAEHDBatch, SAEHDTrainer

    out = str(tmp_path / "w")
    init_file = str(tmp_path / "init")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.start_processes(_rank_main, args=(2, init_file, out), nprocs=2, join=True, start_method="spawn")

    model, batches = _setup(seed=0)  # rank 0's initial weights
    for _, opt in model.optimizer_parts():
        inner = opt.step

        def halved(inner=inner, opt=opt) -> None:
            for v in opt.variables:
                if v.param.grad is not None:
                    v.param.grad.mul_(0.5)  # d(0.5 * summed loss)
            inner()

        opt.step = halved
    trainer = SAEHDTrainer(model)
    for b in batches:
        trainer.train_step(SAEHDBatch(*b))
    single = _weights(model)
    ranks = [np.load(f"{out}_{r}.npz") for r in range(2)]
    initial = _weights(_setup(seed=0)[0])
    moved = max(float(np.abs(single[k] - initial[k]).max()) for k in single)
    assert moved > 1e-4  # the steps did change the weights
    for k, v in single.items():
        np.testing.assert_array_equal(ranks[0][k], ranks[1][k])  # replicas stay identical
        np.testing.assert_allclose(ranks[0][k], v, atol=1e-5, rtol=0, err_msg=k)
