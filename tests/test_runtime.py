"""The runtime layer: device, precision, autocast, seeds, onnxruntime providers (CUDA parts run on a GPU)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from neuface import runtime
from neuface.errors import UsageError

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def test_resolve_device_cpu_and_auto() -> None:
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    assert runtime.resolve_device(" CPU ") == torch.device("cpu")
    assert runtime.resolve_device("auto") == torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    assert runtime.resolve_device("") == runtime.resolve_device("auto")


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "tpu", "cuda:"])
def test_resolve_device_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(UsageError, match="--device"):
        runtime.resolve_device(spec)


@needs_no_cuda
def test_cuda_requested_without_cuda() -> None:
    with pytest.raises(UsageError, match="--device cpu"):
        runtime.resolve_device("cuda")


@needs_cuda
def test_cuda_devices() -> None:
    assert runtime.resolve_device("cuda") == torch.device("cuda:0")
    assert runtime.resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(UsageError, match="CUDA device"):
        runtime.resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_precision_overrides_and_errors() -> None:
    cpu = torch.device("cpu")
    for name in ("fp32", "bf16", "fp16"):
        assert runtime.choose_precision(cpu, name).name == name
    assert runtime.choose_precision(cpu, "BF16").name == "bf16"
    with pytest.raises(UsageError, match="--precision"):
        runtime.choose_precision(cpu, "fp8")
    assert runtime.Precision("fp16").needs_grad_scaler and not runtime.Precision("bf16").needs_grad_scaler
    assert runtime.Precision("fp32").autocast_dtype is None


def test_cpu_auto_precision_follows_cpu_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    flags = runtime.cpu_flags()
    native = "amx_bf16" in flags or "avx512_bf16" in flags
    assert runtime.cpu_has_native_bf16() is native
    assert runtime.choose_precision(torch.device("cpu")).name == ("bf16" if native else "fp32")


@pytest.mark.parametrize(("var", "value", "capped"), [
    ("ONEDNN_MAX_CPU_ISA", "AVX2", True), ("ONEDNN_MAX_CPU_ISA", "avx512_core", True),
    ("ONEDNN_MAX_CPU_ISA", "ALL", False), ("ONEDNN_MAX_CPU_ISA", "avx512_core_amx", False),
    ("ATEN_CPU_CAPABILITY", "avx2", True), ("ATEN_CPU_CAPABILITY", "avx512", False)])
def test_isa_cap_in_the_environment_decides_like_the_hardware(monkeypatch: pytest.MonkeyPatch, var: str,
                                                               value: str, capped: bool) -> None:
    """An AVX512-BF16 CPU held to AVX2 by oneDNN's or aten's variable trains in fp32, as an AVX2-only CPU does."""
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.setenv(var, value)
    cpu = torch.device("cpu")
    assert runtime.isa_cap() == (f"{var}={value}" if capped else None)
    hardware = runtime.cpu_has_native_bf16(honour_caps=False)
    assert runtime.cpu_has_native_bf16() is (hardware and not capped)
    assert runtime.choose_precision(cpu).name == ("bf16" if hardware and not capped else "fp32")
    assert (f"held to {var}={value}" in runtime.cpu_description()) is capped
    if hardware and capped:
        assert runtime.precision_reason(cpu).startswith(f"fp32: {var}={value} holds torch below")


def test_cpu_flags_read_from_proc() -> None:
    try:
        lines = open("/proc/cpuinfo").read().splitlines()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    flag_lines = [line for line in lines if line.startswith("flags")]
    if not flag_lines:
        pytest.skip("no flags line in /proc/cpuinfo")
    assert runtime.cpu_flags() == frozenset(flag_lines[0].split(":", 1)[1].split())
    assert runtime.cpu_flags()


@pytest.mark.parametrize(("name", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_autocast_on_cpu(name: str, dtype: torch.dtype) -> None:
    cpu = torch.device("cpu")
    a = torch.randn(8, 8)
    with runtime.autocast(cpu, runtime.Precision(name)):
        assert (a @ a).dtype == dtype
    assert (a @ a).dtype == torch.float32


def test_grad_scaler_only_for_fp16() -> None:
    cpu = torch.device("cpu")
    scaler = runtime.grad_scaler(cpu, runtime.Precision("fp16"))
    assert scaler.is_enabled() and float(scaler.scale(torch.tensor(2.0))) == 2.0 * 65536
    for name in ("fp32", "bf16"):
        off = runtime.grad_scaler(cpu, runtime.Precision(name))
        assert not off.is_enabled() and float(off.scale(torch.tensor(2.0))) == 2.0  # no loss scaling


def test_seed_everything_is_reproducible() -> None:
    def draw() -> tuple[float, float, float]:
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    runtime.seed_everything(1234)
    first = draw()
    runtime.seed_everything(1234)
    assert draw() == first
    runtime.seed_everything(2**40 + 5)  # large seeds are folded for numpy
    assert draw() != first


def test_cuda_summary_shape() -> None:
    info = runtime.cuda_summary()
    assert info["cuda_available"] is torch.cuda.is_available()
    assert len(info["devices"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)


def test_ort_providers_cpu_last() -> None:
    assert runtime.ort_providers("cpu") == ["CPUExecutionProvider"]
    auto = runtime.ort_providers("auto")
    assert auto[-1] == "CPUExecutionProvider"
    names = [p if isinstance(p, str) else p[0] for p in auto]
    assert "TensorrtExecutionProvider" not in names
    if "CUDAExecutionProvider" in runtime.ort_available_providers():
        assert runtime.ort_providers("cuda:1")[0] == ("CUDAExecutionProvider", {"device_id": 1})
    else:
        assert runtime.ort_providers("cuda") == ["CPUExecutionProvider"]


def _add_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "double", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_ort_session_runs_a_model() -> None:
    session = runtime.ort_session(_add_model(), device="cpu", threads=1)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (y,) = session.run(None, {"x": x})
    np.testing.assert_array_equal(y, 2 * x)
    assert session.get_providers()[-1] == "CPUExecutionProvider"


def test_configure_backends_cpu_is_harmless() -> None:
    runtime.configure_backends(torch.device("cpu"))
    runtime.synchronize(torch.device("cpu"))


@needs_cuda
def test_cuda_precision_and_backends() -> None:
    dev = torch.device("cuda:0")
    major, _ = torch.cuda.get_device_capability(dev)
    precision = runtime.choose_precision(dev)
    assert precision.name == ("bf16" if major >= 8 else "fp16")
    runtime.configure_backends(dev)
    assert torch.backends.cudnn.benchmark
    if major >= 8:
        assert torch.backends.cuda.matmul.allow_tf32
    a = torch.randn(16, 16, device=dev)
    with runtime.autocast(dev, precision):
        assert (a @ a).dtype == precision.autocast_dtype
    scaler = runtime.grad_scaler(dev, runtime.Precision("fp16"))
    assert scaler.is_enabled()
    runtime.synchronize(dev)
    info = runtime.cuda_summary()
    assert info["devices"][0]["name"] == torch.cuda.get_device_name(0)
    assert info["cudnn"]


def test_only_runtime_touches_torch_cuda_and_ort_providers() -> None:
    """Device policy lives in one module: no other module calls torch.cuda or builds ORT sessions itself."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "neuface"
    offenders = []
    for path in src.rglob("*.py"):
        if path.name == "runtime.py":
            continue
        text = path.read_text()
        if re.search(r"torch\.cuda\.|ort\.InferenceSession|onnxruntime\.InferenceSession", text):
            offenders.append(str(path.relative_to(src)))
    assert offenders == []


def test_cpu_device_helpers_are_no_ops() -> None:
    import torch

    from neuface.runtime import device_memory_gb, device_rng_state, use_device

    cpu = torch.device("cpu")
    use_device(cpu)
    assert device_memory_gb(cpu) is None and device_rng_state(cpu) is None


def test_fp16_on_a_cpu_warns_once(capsys) -> None:
    runtime._warn_cpu_fp16.cache_clear()
    cpu = torch.device("cpu")
    assert runtime.choose_precision(cpu, "fp16").name == "fp16"
    runtime.choose_precision(cpu, "fp16")
    runtime.choose_precision(cpu, "bf16")
    captured = capsys.readouterr()
    assert (captured.out + captured.err).count("emulated") == 1


def test_cpu_backends_flush_denormals_and_doctor_says_why():
    """Denormal floats are up to ~100x slower on x86; configure_backends flushes them on CPUs (as TF does).
    Checked in a fresh process: the flush mode is per thread and other tests in this one may have set it."""
    import subprocess
    import sys

    import torch

    from neuface import runtime

    code = ("import torch; from neuface import runtime\n"
            "x = torch.tensor([1e-30]) * 1e-10  # 1e-40 is a float32 denormal\n"
            "kept = float(x[0])\n"
            "runtime.configure_backends(torch.device('cpu'))\n"
            "print(kept, float((torch.tensor([1e-30]) * 1e-10)[0]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    kept, flushed = float(out[0]), float(out[1])
    assert kept > 0.0 and flushed == 0.0  # every x86-64 CPU with SSE3 supports FTZ/DAZ
    reason = runtime.precision_reason(torch.device("cpu"))
    assert reason.startswith(runtime.choose_precision(torch.device("cpu")).name + ":")
    assert runtime.precision_reason(torch.device("cpu"), "fp32") == "fp32: asked for"
    assert "(" in runtime.cpu_description()


def test_compile_cache_is_kept_apart_for_an_emulated_cpu_isa(tmp_path):
    """torch 2.13's inductor cache does not key CPU kernels on ATEN_CPU_CAPABILITY: kernels compiled while it
    said avx2 corrupted the heap of a later run without it. With the variable set, the fused optimizer's
    compile goes to a cache folder of its own (asserted after a real compiled update); without it, or with an
    explicit TORCHINDUCTOR_CACHE_DIR, nothing changes. Checked in fresh processes (the env is per process)."""
    import os
    import subprocess
    import sys

    code = ("import os, torch\n"
            "from torch import nn\n"
            "from neuface.dfl.optim import AdaBelief\n"
            "from neuface.dfl.weights import dfl_variables\n"
            "net = nn.Linear(4, 3)\n"
            "opt = AdaBelief(dfl_variables(net, 'tiny'), 'o', lr=0.01, fused=True)\n"
            "net(torch.ones(2, 4)).sum().backward()\n"
            "opt.step()\n"
            "print(os.environ.get('TORCHINDUCTOR_CACHE_DIR', ''))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("TORCHINDUCTOR_CACHE_DIR", "ATEN_CPU_CAPABILITY")}
    env["TMPDIR"] = str(tmp_path)  # where inductor's default cache folder goes
    emulated = subprocess.run([sys.executable, "-c", code], env={**env, "ATEN_CPU_CAPABILITY": "avx2"},
                              check=True, capture_output=True, text=True, timeout=600).stdout.strip().splitlines()[-1]
    assert emulated.endswith("neuface-isa-avx2") and emulated.startswith(str(tmp_path))
    assert any(p.is_file() for p in Path(emulated).rglob("*")), "the compile wrote into the separate cache"

    probe = "import os; from neuface import runtime; print(runtime.isolate_compile_cache())"
    plain = subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True)
    assert plain.stdout.strip() == "None"
    chosen = {**env, "ATEN_CPU_CAPABILITY": "avx2", "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "mine")}
    explicit = subprocess.run([sys.executable, "-c", probe], env=chosen, check=True, capture_output=True, text=True)
    assert explicit.stdout.strip() == "None"
