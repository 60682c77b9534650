"""DFL's optimizers, exactly as leras runs them, with their state in DFL's `*_opt.npy` format: AdaBelief
(SAEHD's default) and RMSprop (SAEHD with adabelief off, and XSeg).

AdaBelief (no bias correction): m = b1 m + (1-b1) g; v = b2 v + (1-b2) (g-m)^2 with the *new* m;
p += -lr m / (sqrt(v) + 1e-6). RMSprop: a = rho a + (1-rho) g^2; p += -lr g / (sqrt(a) + 1e-6).
Options shared by both: lr_dropout (each update multiplied by a fresh Bernoulli(keep) mask), a cosine lr
schedule lr*(cos(iter*2pi/lr_cos)+1)/2, and global-norm gradient clipping (g*c/|g| when |g| >= c).
One eps for both, leras' `np.finfo(np.float32).resolution` (1e-6), added outside the root.

The update is one fused elementwise pass when torch.compile works here (C++ compiler on CPU, triton on
CUDA); the unfused version costs several full passes over ~80M parameters per step. Eager is the
fallback and the reference. torch's GradScaler (fp16) steps these optimizers directly (`param_groups`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuface.console import detail
from neuface.dfl.weights import DflVar, check_keys, check_weight_dict, checked_array, slot_key
from neuface.runtime import isolate_compile_cache

EPS = float(np.finfo(np.float32).resolution)  # 1e-6, what leras adds outside the root
TWO_PI = 2 * 3.1415926535  # leras' constant for the cosine schedule
RECOMPILE_LIMIT = 256  # fused updates one process may compile (models x optimizers x trainable-variable sets)


def _adabelief_update(ps: list[torch.Tensor], gs: list[torch.Tensor], ms: list[torch.Tensor],
                      vs: list[torch.Tensor], lr: torch.Tensor, scale: torch.Tensor, keep: float,
                      b1: float, b2: float) -> None:
    for p, g, m, v in zip(ps, gs, ms, vs, strict=True):
        g = g * scale
        m_t = m * b1 + g * (1.0 - b1)
        d = g - m_t
        v_t = v * b2 + d * d * (1.0 - b2)
        diff = -lr * m_t / (torch.sqrt(v_t) + EPS)
        if keep < 1.0:
            diff = diff * (torch.rand_like(p) < keep).to(p.dtype)
        m.copy_(m_t)
        v.copy_(v_t)
        p.add_(diff)


def _adabelief_foreach(ps: list[torch.Tensor], gs: list[torch.Tensor], ms: list[torch.Tensor],
                       vs: list[torch.Tensor], lr: torch.Tensor, scale: torch.Tensor, keep: float,
                       b1: float, b2: float) -> None:
    """The same update with multi-tensor ops: the eager path (few kernel launches on a GPU)."""
    gs = torch._foreach_mul(gs, scale)
    torch._foreach_mul_(ms, b1)
    torch._foreach_add_(ms, torch._foreach_mul(gs, 1.0 - b1))
    d = torch._foreach_sub(gs, ms)
    torch._foreach_mul_(vs, b2)
    torch._foreach_add_(vs, torch._foreach_mul(torch._foreach_mul(d, d), 1.0 - b2))
    den = torch._foreach_sqrt(vs)
    torch._foreach_add_(den, EPS)
    upd = torch._foreach_div(torch._foreach_mul(ms, -lr), den)
    if keep < 1.0:
        torch._foreach_mul_(upd, [(torch.rand_like(p) < keep).to(p.dtype) for p in ps])
    torch._foreach_add_(ps, upd)


def _rmsprop_update(ps: list[torch.Tensor], gs: list[torch.Tensor], accs: list[torch.Tensor],
                    lr: torch.Tensor, scale: torch.Tensor, keep: float, rho: float) -> None:
    for p, g, a in zip(ps, gs, accs, strict=True):
        g = g * scale
        a_t = a * rho + g * g * (1.0 - rho)
        diff = -lr * g / (torch.sqrt(a_t) + EPS)
        if keep < 1.0:
            diff = diff * (torch.rand_like(p) < keep).to(p.dtype)
        a.copy_(a_t)
        p.add_(diff)


class DflOptimizer:
    """Base: DFL variables, one list of state tensors per slot, the `iters` counter, lr options."""

    slots: tuple[str, ...] = ()

    def __init__(self, variables: Sequence[DflVar], name: str, lr: float = 5e-5, lr_dropout: float = 1.0,
                 lr_cos: int = 0, clipnorm: float = 0.0, fused: bool | str = "auto"):
        self.variables = list(variables)
        self.name = name
        self.lr = float(lr)
        self.lr_dropout = float(lr_dropout)
        self.lr_cos = int(lr_cos)
        self.clipnorm = float(clipnorm)
        self.iters = 0
        self._state: dict[str, list[torch.Tensor]] | None = None  # zeros on first use (DFL's init)
        self.fused = fused
        self._compiled: dict[tuple[int, ...], Callable[..., None]] = {}
        self._fused_failed = False

    @property
    def state(self) -> dict[str, list[torch.Tensor]]:
        """Slot tensors per slot name, allocated (zeros) on first use so inference never pays for them."""
        if self._state is None:
            self._state = {s: [torch.zeros_like(v.param, dtype=torch.float32, memory_format=torch.preserve_format)
                               for v in self.variables] for s in self.slots}
        return self._state

    @state.setter
    def state(self, value: dict[str, list[torch.Tensor]]) -> None:
        self._state = value

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """What torch's GradScaler unscales before it calls `step` (fp16 training)."""
        return [{"params": [v.param for v in self.variables]}]

    # ---- update ---------------------------------------------------------------------------------
    def current_lr(self) -> float:
        """lr with the cosine schedule applied (iteration = steps done before this one)."""
        if self.lr_cos:
            return self.lr * (math.cos(self.iters * (TWO_PI / self.lr_cos)) + 1.0) / 2.0
        return self.lr

    def zero_grad(self) -> None:
        for v in self.variables:
            v.param.grad = None

    def _clip_scale(self, grads: list[torch.Tensor]) -> float | torch.Tensor:
        if self.clipnorm <= 0 or not grads:
            return 1.0
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        return torch.where(norm >= self.clipnorm, self.clipnorm / norm, torch.ones_like(norm))

    def _update_fn(self, idx: tuple[int, ...]) -> Callable[..., None]:
        use_fused = self.fused is True or (self.fused == "auto" and not self._fused_failed)
        if not use_fused:
            return self._eager
        fn = self._compiled.get(idx)
        if fn is None:
            isolate_compile_cache()
            fn = torch.compile(self._fusable, fullgraph=True, dynamic=False)
            self._compiled[idx] = fn
        return fn

    def step(self) -> None:
        """Update every variable that has a gradient (frozen ones keep their state); iters += 1."""
        idx = tuple(i for i, v in enumerate(self.variables) if v.param.grad is not None)
        if idx:
            params = [self.variables[i].param.data for i in idx]
            grads = [self.variables[i].param.grad.float() for i in idx]  # type: ignore[union-attr]
            dev = params[0].device
            lr = torch.tensor(self.current_lr(), dtype=torch.float32, device=dev)
            scale = torch.as_tensor(self._clip_scale(grads), dtype=torch.float32, device=dev)
            slots = [[self.state[s][i] for i in idx] for s in self.slots]
            first_call = idx not in self._compiled
            fn = self._update_fn(idx)
            # Every optimizer instance compiles the same `_fusable` code object, once per parameter set;
            # dynamo's per-code-object recompile limit (8) must not cut a long process short.
            compiling = first_call and fn is not self._eager
            limit = torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT) if compiling else nullcontext()
            try:
                with limit:
                    fn(params, grads, *slots, lr, scale)
            except Exception as exc:  # compile toolchain missing or broken: fall back to eager once
                if fn is self._eager or self.fused is True:
                    raise
                self._fused_failed = True
                detail(f"{self.name}: fused optimizer update unavailable ({type(exc).__name__}); using eager")
                self._eager(params, grads, *slots, lr, scale)
        self.iters += 1

    def _eager(self, params: list[torch.Tensor], grads: list[torch.Tensor], *rest: Any) -> None:
        raise NotImplementedError

    def _fusable(self, params: list[torch.Tensor], grads: list[torch.Tensor], *rest: Any) -> None:
        """The per-tensor update torch.compile fuses into one pass (eager semantics identical)."""
        raise NotImplementedError

    # ---- DFL's *_opt.npy ------------------------------------------------------------------------
    def state_to_dfl(self) -> dict[str, np.ndarray]:
        """`{'iters:0': int64, '<slot>_<scope>/<var>_0:0': array, ...}` in DFL's key order."""
        out: dict[str, np.ndarray] = {"iters:0": np.array(self.iters, dtype=np.int64)}
        for s in self.slots:
            for v, t in zip(self.variables, self.state[s], strict=True):
                out[slot_key(s, v.scope, v.key)] = v.to_dfl(t)
        return out

    def load_dfl(self, d: Any, source: Path | str) -> None:
        """Load DFL optimizer state strictly (every slot of every variable, and `iters:0`)."""
        check_weight_dict(d, source)
        expected = ["iters:0"] + [slot_key(s, v.scope, v.key) for s in self.slots for v in self.variables]
        check_keys(expected, d, source, "optimizer slot")
        new: dict[str, list[torch.Tensor]] = {s: [] for s in self.slots}
        for s in self.slots:
            for v in self.variables:
                key = slot_key(s, v.scope, v.key)
                new[s].append(v.from_dfl(checked_array(key, d[key], v.dfl_shape, source, "optimizer slot")).float())
        self.state = new
        self.iters = int(np.asarray(d["iters:0"]).item())


class AdaBelief(DflOptimizer):
    """leras AdaBelief (beta1 0.9, beta2 0.999), slots `ms`, `vs`."""

    slots = ("ms", "vs")

    def __init__(self, *args: Any, beta_1: float = 0.9, beta_2: float = 0.999, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.beta_1, self.beta_2 = beta_1, beta_2

    def _eager(self, params: list[torch.Tensor], grads: list[torch.Tensor], ms: list[torch.Tensor],
               vs: list[torch.Tensor], lr: torch.Tensor, scale: torch.Tensor) -> None:
        _adabelief_foreach(params, grads, ms, vs, lr, scale, self.lr_dropout, self.beta_1, self.beta_2)

    def _fusable(self, params: list[torch.Tensor], grads: list[torch.Tensor], ms: list[torch.Tensor],
                 vs: list[torch.Tensor], lr: torch.Tensor, scale: torch.Tensor) -> None:
        _adabelief_update(params, grads, ms, vs, lr, scale, self.lr_dropout, self.beta_1, self.beta_2)


class RMSprop(DflOptimizer):
    """leras RMSprop (rho 0.9), slot `acc`."""

    slots = ("acc",)

    def __init__(self, *args: Any, rho: float = 0.9, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.rho = rho

    def _eager(self, params: list[torch.Tensor], grads: list[torch.Tensor], accs: list[torch.Tensor],
               lr: torch.Tensor, scale: torch.Tensor) -> None:
        _rmsprop_update(params, grads, accs, lr, scale, self.lr_dropout, self.rho)

    _fusable = _eager

