"""DFL's leras RMSprop, the optimizer XSeg trains with (lr 1e-4, rho 0.9, lr_dropout 0.3).

    acc = rho*acc + (1-rho)*g^2 ;  w -= lr * g / (sqrt(acc) + eps) * bernoulli(lr_dropout)

eps is leras' `np.finfo(np.float32).resolution` (1e-6), the constant SAEHD's optimizers add too.

eps sits outside the root (as torch's RMSprop) but torch has no lr_dropout, and the state must map to
DFL's `acc_*` slots in `XSeg_256_opt.npy`, so it is written out here. The Bernoulli keep-mask is drawn
per element, per step (keep probability 0.3), as DFL's `random_binomial` op re-samples every run.
It is a `torch.optim.Optimizer` so the runtime's fp16 GradScaler can unscale, skip and grow with it.
"""

from __future__ import annotations

import torch
from torch import nn

from neuface.train.optim import EPS


class DFLRMSprop(torch.optim.Optimizer):
    """RMSprop with DFL's update rule; `acc` is keyed by parameter name so it maps to DFL's slot names."""

    def __init__(self, net: nn.Module, lr: float = 1e-4, rho: float = 0.9, lr_dropout: float = 0.3,
                 eps: float = EPS):
        self.params = dict(net.named_parameters())
        super().__init__(list(self.params.values()), {"lr": lr})
        self.lr, self.rho, self.lr_dropout, self.eps = lr, rho, lr_dropout, eps
        self.acc = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in self.params.items()}
        self.iterations = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params.values():
            p.grad = None

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        self.iterations += 1
        for name, p in self.params.items():
            if p.grad is None:
                continue
            g = p.grad.float()
            a = self.acc[name]
            a.mul_(self.rho).addcmul_(g, g, value=1.0 - self.rho)
            update = g / (a.sqrt() + self.eps) * self.lr
            if self.lr_dropout != 1.0:
                keep = torch.rand(p.shape, device=p.device) < self.lr_dropout
                update = update * keep
            p.sub_(update.to(p.dtype))

    def load_state(self, acc: dict[str, torch.Tensor], iterations: int) -> None:
        for name, t in acc.items():
            self.acc[name].copy_(t.to(self.acc[name].device))
        self.iterations = iterations
