"""Detection backends behind one interface; which ones exist, and what `auto` picks, is `registry`'s table.

`auto` picks insightface when its buffalo_l pack is present, else retinaface (the offline default), else
dlib's HOG detector (always available).
"""

from __future__ import annotations

from pathlib import Path

from neuface.detect.backends import registry
from neuface.detect.backends.base import Backend, DetectedFace, DetectOptions

__all__ = ["Backend", "DetectOptions", "DetectedFace", "backend_choices", "backend_help", "create_backend",
           "resolve_backend"]


def backend_choices() -> tuple[str, ...]:
    """`auto` and every listed backend name."""
    return registry.choices()


def backend_help() -> str:
    """`--backend` help (detect's and merge's): the choices and what `auto` picks."""
    return registry.help_text()


def resolve_backend(name: str, models_dir: Path | None = None) -> str:
    """The concrete backend `name` stands for (`auto` -> the first available in the registry's order)."""
    return registry.resolve(name, models_dir)


def create_backend(name: str, options: DetectOptions | None = None, models_dir: Path | None = None,
                   device: str = "auto", threads: int | None = None, landmarker: str = "auto") -> Backend:
    """Instantiate a backend by name; `auto` is resolved first."""
    args = registry.BuildArgs(options or DetectOptions(), models_dir, device, threads, landmarker)
    return registry.create(name, args)
