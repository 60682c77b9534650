"""Detection backends declared as data: name, factory, availability, GPU use, weight licence, retries.

Everything that used to branch on a backend's name (`auto` selection, `--backend` help, the GPU path,
`--redo-deleted-debug`'s lower threshold and fallback backend, which backend computes an identity model's
vectors) reads this table, so adding a backend is one `register` call in its entry below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from neuface.detect.backends.base import Backend, DetectOptions
from neuface.errors import UsageError

AUTO = "auto"


@dataclass(frozen=True)
class BuildArgs:
    """What a factory may use; each backend takes the fields it needs."""

    options: DetectOptions
    models_dir: Path | None = None
    device: str = "auto"
    threads: int | None = None
    landmarker: str = "auto"


@dataclass(frozen=True)
class BackendSpec:
    """One detection backend.

    auto_rank: order in which `auto` tries available backends (lower first); None = never picked by auto.
    redo_threshold_offset: score offset of `--redo-deleted-debug`'s first retry (each backend's own scale).
    redo_fallbacks: backends tried next by that retry; the first available one is used.
    listed: shown as a `--backend` choice (False for internal variants such as dlib's CNN detector).
    warn_when_skipped: say so once when `auto` passes over it (it is meant to be installed).
    """

    name: str
    summary: str
    factory: Callable[[BuildArgs], Backend]
    available: Callable[[Path | None], bool]
    unavailable_hint: str
    runs_on_gpu: Callable[[str], bool]
    licence: str
    identity_model: str | None
    redo_threshold_offset: float
    redo_fallbacks: tuple[str, ...] = ()
    auto_rank: int | None = None
    listed: bool = True
    warn_when_skipped: bool = False


# Modules whose import registers the built-in backends (each module's last lines), in listing order.
BUILTIN_MODULES = (
    "neuface.detect.backends.dlib_backend",
    "neuface.detect.backends.insightface_backend",
    "neuface.detect.backends.retinaface_backend",
)

_REGISTRY: dict[str, BackendSpec] = {}


def register(spec: BackendSpec) -> BackendSpec:
    """Add (or replace) a backend; called by each backend module when it is imported."""
    _REGISTRY[spec.name] = spec
    return spec


@lru_cache(maxsize=1)
def _load_builtins() -> None:
    import importlib

    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def specs(listed_only: bool = True) -> list[BackendSpec]:
    _load_builtins()
    return [s for s in _REGISTRY.values() if s.listed or not listed_only]


def get(name: str) -> BackendSpec:
    """The spec of a concrete backend (not `auto`); a one-line error listing the choices otherwise."""
    _load_builtins()
    spec = _REGISTRY.get((name or "").strip().lower())
    if spec is None:
        raise UsageError(f"--backend {name!r}: expected one of {', '.join(choices())}")
    return spec


def choices() -> tuple[str, ...]:
    return (AUTO, *(s.name for s in specs()))


def auto_order() -> list[BackendSpec]:
    return sorted((s for s in specs() if s.auto_rank is not None), key=lambda s: s.auto_rank)


def help_text() -> str:
    """`--backend` help: the choices and what `auto` picks, from the table."""
    order = " > ".join(s.name for s in auto_order())
    return f"{AUTO} (first available: {order}) | " + " | ".join(f"{s.name} ({s.summary})" for s in specs())


def resolve(name: str, models_dir: Path | None = None) -> str:
    """The concrete backend `name` stands for: `auto` -> the best available one (see `auto_rank`)."""
    name = (name or AUTO).strip().lower()
    if name != AUTO:
        return get(name).name
    order = auto_order()
    for spec in order:
        if spec.available(models_dir):
            _note_skipped(spec.name, tuple(s.name for s in order[:order.index(spec)] if s.warn_when_skipped))
            return spec.name
    raise UsageError("no detection backend is available")  # unreachable: dlib is always available


@cache
def _note_skipped(chosen: str, skipped: tuple[str, ...]) -> None:
    """Once per process: why `auto` did not pick a backend that is meant to be installed."""
    if skipped:
        from neuface.console import warn

        warn(f"--backend auto uses {chosen}: {skipped[0]} is not available ({get(skipped[0]).unavailable_hint})")


def create(name: str, args: BuildArgs) -> Backend:
    """Instantiate a backend by name (`auto` resolved first); a one-line error when it is not available."""
    spec = get(resolve(name, args.models_dir))
    return spec.factory(args)


def uses_gpu(name: str, device: str) -> bool:
    """True when the backend will run on an accelerator for `device`, without loading it."""
    return get(name).runs_on_gpu(device)


def redo_fallback(name: str, models_dir: Path | None = None) -> str | None:
    """The backend `--redo-deleted-debug` tries after `name` at a lower threshold found nothing."""
    return next((f for f in get(name).redo_fallbacks if get(f).available(models_dir)), None)


def identity_backend_name(model: str) -> str:
    """The backend that computes `model` vectors: the first available one that has it, else the first one
    (whose creation then says what is missing)."""
    having = [s for s in specs(listed_only=False) if s.identity_model == model]
    if having:
        return next((s for s in having if s.available(None)), having[0]).name
    known = sorted({s.identity_model for s in specs(listed_only=False) if s.identity_model})
    raise ValueError(f"unknown identity model {model!r}; known: {', '.join(known)}")


def ort_runs_on_cuda(device: str) -> bool:
    """onnxruntime backends run on CUDA when `device` allows it and onnxruntime-gpu is installed."""
    from neuface.runtime import ort_providers

    return any((p[0] if isinstance(p, tuple) else p) == "CUDAExecutionProvider" for p in ort_providers(device))


def never_gpu(device: str) -> bool:
    return False


def always(models_dir: Path | None) -> bool:
    return True
