"""Multi-GPU training under `torchrun`: process group setup, gradient averaging, rank-0-only work.

DFL sums each GPU's per-sample losses and averages the GPUs' gradients. We do the same without wrapping the
model in DistributedDataParallel (the SAEHD step calls its sub-networks directly): after backward, all
gradients are flattened into one buffer, all-reduced once and divided by the world size. Every rank starts
from rank 0's weights (broadcast), so the replicas stay identical step after step.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device | None = None

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device_spec: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1): NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    import torch
    import torch.distributed as dist

    from neuface.runtime import resolve_device, use_device

    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    base = resolve_device(device_spec)
    if base.type == "cuda":
        device = torch.device("cuda", local)
        use_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, world=world, local_rank=local, device=device)


def teardown(info: DistInfo) -> None:
    if info.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def broadcast_parameters(info: DistInfo, tensors: Iterable[torch.Tensor]) -> None:
    """Copy rank 0's tensors (weights, optimizer state) to every rank."""
    if not info.active:
        return
    import torch.distributed as dist

    for t in tensors:
        dist.broadcast(t.data, src=0)


def average_gradients(info: DistInfo, params: Iterable[torch.Tensor]) -> None:
    """All-reduce the gradients as one flat buffer and divide by the world size (DFL's GPU averaging)."""
    if not info.active:
        return
    import torch
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(info.world)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def any_flag(info: DistInfo, flag: bool) -> bool:
    """True on every rank when any rank's flag is set (so a signal to one process stops all together)."""
    if not info.active:
        return flag
    import torch
    import torch.distributed as dist

    dev = info.device if info.device is not None and info.device.type == "cuda" else torch.device("cpu")
    t = torch.tensor([1.0 if flag else 0.0], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


@contextmanager
def rank_zero_first(info: DistInfo) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. messages, file creation), the others after it."""
    if not info.active:
        yield
        return
    import torch.distributed as dist

    if info.rank != 0:
        dist.barrier()
    yield
    if info.rank == 0:
        dist.barrier()


def quiet_other_ranks(info: DistInfo) -> None:
    """Under torchrun only rank 0 talks: the others get -q (no progress bar, no info lines; warnings stay)."""
    from neuface.console import set_verbosity, verbosity

    if info.rank != 0:
        set_verbosity(min(verbosity(), -1))
