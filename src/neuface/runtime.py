"""The one place that decides where and how models run.

Torch device (`auto` = CUDA when available), mixed-precision policy, TF32/cudnn switches, seeds and
onnxruntime execution providers. No other module calls `torch.cuda` or builds ORT provider lists:
they ask this module, so device policy changes in one place.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuface.errors import UsageError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = "auto|cpu|cuda|cuda:N"
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """CPU feature flags from /proc/cpuinfo (empty where unavailable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


# The instruction sets that decide which kernels torch/oneDNN run (and so the precision `auto` picks).
CPU_FEATURES = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_description() -> str:
    """`<model name> (avx2, avx512f, ...)` for benchmark headers and `neuface doctor`."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    present = [f for f in CPU_FEATURES if f in flags] or ["no AVX2"]
    cap = isa_cap()
    return f"{model} ({', '.join(present)}{f'; held to {cap}' if cap else ''})"


# oneDNN's ISA names (ONEDNN_MAX_CPU_ISA) at or above AVX512_CORE_BF16: caps that still let it run bf16 natively.
_ONEDNN_BF16_ISAS = frozenset({"AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16", "AVX512_CORE_AMX",
                               "AVX10_1_512_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX_FP16", "DEFAULT", "ALL"})


def isa_cap() -> str | None:
    """The environment variable that holds torch's CPU kernels below this CPU's bf16 instructions, if any.

    Why: `ONEDNN_MAX_CPU_ISA=AVX2` (oneDNN's convolutions) or `ATEN_CPU_CAPABILITY=avx2|default` (torch's own
    kernels) make an AVX512-BF16 CPU run like an AVX2-only one - how the benchmarks measure AVX2 CPUs - and
    bf16 is then emulated, so `auto` must pick fp32 there as on a real AVX2 CPU."""
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip()
    if onednn and onednn.upper() not in _ONEDNN_BF16_ISAS:
        return f"ONEDNN_MAX_CPU_ISA={onednn}"
    aten = os.environ.get("ATEN_CPU_CAPABILITY", "").strip()
    if aten.lower() in ("avx2", "default"):
        return f"ATEN_CPU_CAPABILITY={aten}"
    return None


def precision_reason(device: torch.device, override: str = "auto") -> str:
    """Why `choose_precision` picks what it picks, in words (`neuface doctor`)."""
    chosen = choose_precision(device, override).name
    if override != "auto":
        return f"{chosen}: asked for"
    if device.type == "cuda":
        return f"{chosen}: {'native bf16 (Ampere or newer)' if chosen == 'bf16' else 'fp16 on a pre-Ampere GPU'}"
    if chosen == "bf16":
        return "bf16: this CPU has native bf16 (AVX512-BF16/AMX), which runs SAEHD about 2x faster than fp32"
    if cpu_has_native_bf16(honour_caps=False):
        return (f"fp32: {isa_cap()} holds torch below this CPU's bf16 instructions, where bf16 is emulated and "
                "slower than fp32; denormals are flushed to zero")
    return ("fp32: this CPU has no native bf16 (AVX2 or plain AVX-512), where bf16 is emulated and slower than "
            "fp32; denormals are flushed to zero (DFL's tiny weights otherwise hit slow denormal arithmetic)")


def cpu_has_native_bf16(honour_caps: bool = True) -> bool:
    """True on CPUs with AMX-BF16 or AVX512-BF16, where bf16 autocast is faster than fp32 - unless the
    environment holds torch below those instructions (`isa_cap`; `honour_caps=False` asks the hardware only)."""
    flags = cpu_flags()
    hardware = "amx_bf16" in flags or "avx512_bf16" in flags
    return hardware and not (honour_caps and isa_cap())


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn `auto|cpu|cuda|cuda:N` into a torch.device, with a clear error when CUDA is missing."""
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {spec}: CUDA is not available (torch {torch.__version__}); use --device cpu")
        index = 0 if spec == "cuda" else _parse_index(spec)
        if index >= torch.cuda.device_count():
            raise UsageError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return torch.device(f"cuda:{index}")
    raise UsageError(f"--device {spec!r}: expected {DEVICE_CHOICES}")


def _parse_index(spec: str) -> int:
    try:
        return int(spec.split(":", 1)[1])
    except ValueError as exc:
        raise UsageError(f"--device {spec!r}: expected {DEVICE_CHOICES}") from exc


@dataclass(frozen=True)
class Precision:
    """How to run a model: autocast dtype (None = fp32) and whether a GradScaler is needed."""

    name: str  # fp32 | bf16 | fp16

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        import torch

        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.name]

    @property
    def needs_grad_scaler(self) -> bool:
        return self.name == "fp16"


def choose_precision(device: torch.device, override: str = "auto") -> Precision:
    """bf16 where the hardware has native bf16 (Ampere+ GPUs, AMX/AVX512-BF16 CPUs), fp16 on older GPUs,
    fp32 otherwise; `override` (fp32|bf16|fp16) wins."""
    import torch

    override = (override or "auto").lower()
    if override not in PRECISION_CHOICES:
        raise UsageError(f"--precision {override!r}: expected one of {', '.join(PRECISION_CHOICES)}")
    if override != "auto":
        if override == "fp16" and device.type == "cpu":
            _warn_cpu_fp16()
        return Precision(override)
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return Precision("bf16" if major >= 8 else "fp16")
    if device.type == "cpu" and cpu_has_native_bf16():
        return Precision("bf16")
    return Precision("fp32")


@functools.cache
def _warn_cpu_fp16() -> None:
    from neuface.console import warn

    warn("--precision fp16 on a CPU is emulated (several times slower than fp32); bf16 or fp32 run faster")


@contextlib.contextmanager
def autocast(device: torch.device, precision: Precision) -> Iterator[None]:
    """Autocast context for the chosen precision (a no-op for fp32)."""
    import torch

    dtype = precision.autocast_dtype
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def grad_scaler(device: torch.device, precision: Precision, init_scale: float = 2.0**16) -> Any:
    """A GradScaler for fp16 training (CUDA and CPU autocast both run fp16), else a disabled one with the
    same interface, so the training step has one code path."""
    import torch

    enabled = precision.needs_grad_scaler and device.type in ("cuda", "cpu")
    return torch.amp.GradScaler(device.type, init_scale=init_scale, enabled=enabled)


def configure_backends(device: torch.device) -> None:
    """TF32 matmuls/convs on Ampere+, cudnn autotuning for fixed shapes; on CPUs, denormals flushed to zero.

    Why flush: x86 arithmetic on denormal floats is up to ~100x slower, and SAEHD's small-init layers and
    AdaBelief's second moments produce them, so how many a step meets (and its time) varied from run to run.
    TensorFlow, which DFL runs on, flushes denormals in its CPU threads too."""
    import torch

    if device.type == "cpu":
        torch.set_flush_denormal(True)
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        if major >= 8:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def isolate_compile_cache() -> Path | None:
    """Give torch.compile a kernel cache of its own when `ATEN_CPU_CAPABILITY` holds the CPU to an older ISA.

    Why: inductor's on-disk cache does not key its CPU kernels on that variable (torch 2.13). Kernels compiled
    while it says `avx2` (how the benchmarks emulate an AVX2-only CPU) were reused by a later run without it
    and corrupted the heap ("corrupted size vs. prev_size") in the first training step. An explicit
    `TORCHINDUCTOR_CACHE_DIR` is left alone. Returns the folder chosen, or None. Call before compiling."""
    isa = os.environ.get("ATEN_CPU_CAPABILITY", "").strip().lower()
    if not isa or os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
        return None
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    folder = Path(default_cache_dir()) / f"neuface-isa-{isa}"
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    return folder


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (for timing); no-op on CPU."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def cuda_summary() -> dict[str, Any]:
    """CUDA / cuDNN visibility for `doctor`."""
    import torch

    info: dict[str, Any] = {
        "cuda_available": torch.cuda.is_available(),
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "devices": [],
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            info["devices"].append({"index": i, "name": p.name, "memory_gb": round(p.total_memory / 2**30, 1),
                                    "capability": f"{p.major}.{p.minor}"})
    return info


def ort_available_providers() -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


def ort_providers(device: str | torch.device = "auto") -> list[Any]:
    """onnxruntime providers for a device: CUDA (when requested/auto and present), always CPU last.

    TensorRT is never required.
    """
    available = ort_available_providers()
    if not available:
        raise UsageError("onnxruntime is not installed: pip install 'neuface[cpu]' (or 'neuface[gpu]' on CUDA)")
    dev = str(device)
    want_cuda = dev.startswith("cuda") or (dev == "auto" and "CUDAExecutionProvider" in available)
    providers: list[Any] = []
    if want_cuda and "CUDAExecutionProvider" in available:
        index = int(dev.split(":", 1)[1]) if dev.startswith("cuda:") else 0
        providers.append(("CUDAExecutionProvider", {"device_id": index}))
    providers.append("CPUExecutionProvider")
    return providers


def ort_session(model: str | bytes | os.PathLike[str], device: str | torch.device = "auto",
                threads: int | None = None) -> Any:
    """An onnxruntime InferenceSession with full graph optimizations on the chosen providers."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    src = model if isinstance(model, bytes) else os.fspath(model)
    return ort.InferenceSession(src, sess_options=opts, providers=ort_providers(device))


def use_device(device: torch.device) -> None:
    """Make `device` the current CUDA device of this process (one GPU per process under torchrun)."""
    import torch

    if device.type == "cuda":
        torch.cuda.set_device(device)


def device_memory_gb(device: torch.device) -> tuple[str, float] | None:
    """(name, total memory in GiB) of a CUDA device, for summaries; None on CPU."""
    import torch

    if device.type != "cuda":
        return None
    props = torch.cuda.get_device_properties(device)
    return props.name, props.total_memory / 1024**3


def device_rng_state(device: torch.device) -> bytes | None:
    """The CUDA generator's state of `device` (None on CPU), so a resumed run continues the same stream."""
    import torch

    if device.type != "cuda":
        return None
    return torch.cuda.get_rng_state(device).numpy().tobytes()


def set_device_rng_state(device: torch.device, state: bytes) -> None:
    """Restore what `device_rng_state` returned (no-op on CPU)."""
    import numpy as np
    import torch

    if device.type == "cuda":
        torch.cuda.set_rng_state(torch.from_numpy(np.frombuffer(state, np.uint8).copy()), device)
