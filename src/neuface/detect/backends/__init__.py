"""Detection backends behind one interface, and `auto` selection.

`dlib` always works offline; `insightface` needs the buffalo_l pack; `auto` picks insightface when its
pack is present, else dlib.
"""

from __future__ import annotations

from pathlib import Path

from neuface.detect.backends.base import Backend, DetectedFace, DetectOptions
from neuface.detect.weights import find_buffalo
from neuface.errors import UsageError

BACKEND_CHOICES = ("auto", "dlib", "insightface")

__all__ = ["BACKEND_CHOICES", "Backend", "DetectOptions", "DetectedFace", "create_backend", "resolve_backend"]


def resolve_backend(name: str, models_dir: Path | None = None) -> str:
    """The concrete backend `name` stands for (`auto` -> insightface when its pack is found, else dlib)."""
    name = (name or "auto").strip().lower()
    if name not in BACKEND_CHOICES:
        raise UsageError(f"--backend {name!r}: expected one of {', '.join(BACKEND_CHOICES)}")
    if name == "auto":
        return "insightface" if find_buffalo(models_dir) is not None else "dlib"
    return name


def create_backend(name: str, options: DetectOptions | None = None, models_dir: Path | None = None,
                   device: str = "auto", threads: int | None = None, dlib_detector: str = "hog") -> Backend:
    """Instantiate a backend by (resolved) name; `auto` is resolved first."""
    concrete = resolve_backend(name, models_dir)
    if concrete == "dlib":
        from neuface.detect.backends.dlib_backend import DlibBackend

        return DlibBackend(options, detector=dlib_detector)
    from neuface.detect.backends.insightface_backend import InsightfaceBackend

    return InsightfaceBackend(options, models_dir=models_dir, device=device, threads=threads)
