"""Exports load and run under onnxruntime 1.15.1, the version DeepFaceLive ships (side venv, numpy<2).

The venv is created once in ~/.cache/neuface-test/ort115 (or $NEUFACE_TEST_CACHE/ort115) and reused.
The test skips, saying why, only when pip cannot install onnxruntime 1.15.1 here.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from neuface.dfl.weights import load_weight_file
from neuface.export.dfm import export_dfm
from neuface.export.provenance import Provenance
from neuface.train.nn import build_saehd

ORT_VERSION = "1.15.1"

# What DeepFaceLive's DFMModel does on load and per frame (docs/dfm-contract.md §1a), run in the old runtime.
_RUNNER = r"""
import json, sys
import numpy as np, onnxruntime as ort
res = {"ort": ort.__version__, "numpy": np.__version__, "files": {}}
x = np.load(sys.argv[1])
for path in sys.argv[2:]:
    try:
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as exc:
        res["files"][path] = {"load_error": str(exc).splitlines()[0]}
        continue
    inputs = sess.get_inputs()
    assert len(inputs) == 1 and "in_face" in inputs[0].name, "DeepFaceLive: Invalid model"
    h, w = inputs[0].shape[1:3]
    one = sess.run(None, {"in_face:0": x[:1]})
    face_mask, celeb, celeb_mask = sess.run(None, {"in_face:0": x})  # DFL unpacks exactly three
    np.savez(path + ".out.npz", face_mask=face_mask, celeb=celeb, celeb_mask=celeb_mask, one_celeb=one[1])
    res["files"][path] = {"hw": [h, w], "dtypes": [str(o.dtype) for o in one]}
print(json.dumps(res))
"""


def _cache_root() -> Path:
    return Path(os.environ.get("NEUFACE_TEST_CACHE") or Path.home() / ".cache" / "neuface-test")


def _python311() -> str | None:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    return shutil.which("python3.11")


def _has_ort(py: Path) -> bool:
    if not py.exists():
        return False
    probe = subprocess.run([str(py), "-c", f"import onnxruntime as o, numpy as n; "
                            f"assert o.__version__ == '{ORT_VERSION}' and n.__version__ < '2'"],
                           capture_output=True, timeout=120)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def ort115_python() -> Path:
    """The side venv's python with onnxruntime 1.15.1, built on first use under a file lock."""
    venv = _cache_root() / "ort115"
    py = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / "ort115.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs must not build the venv twice
        if _has_ort(py):
            return py
        base = _python311()
        if base is None:
            pytest.skip("onnxruntime 1.15.1 has wheels for Python <= 3.11 only, and no python3.11 is on PATH")
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
        pip = subprocess.run([str(py), "-m", "pip", "install", "-q", f"onnxruntime=={ORT_VERSION}", "numpy<2"],
                             capture_output=True, text=True, timeout=600)
        if pip.returncode != 0 or not _has_ort(py):
            shutil.rmtree(venv, ignore_errors=True)
            last = (pip.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"pip could not install onnxruntime=={ORT_VERSION} with numpy<2: {last}")
    return py


def test_export_runs_under_deepfacelive_onnxruntime(tmp_path: Path, ort115_python: Path, model_fixtures: Path,
                                                    dfl_fixtures: Path) -> None:
    ref = model_fixtures / "saehd_liae_ud_64"
    net = build_saehd(64, "liae-ud", 64, 32, 32, 16)
    for part, module in net.parts():
        load_weight_file(module, part, ref / "weights" / f"ref_SAEHD_{part}.npy")
    faces = [cv2.imread(str(p)) for p in sorted((dfl_fixtures / "aligned").glob("t1_*.jpg"))[:2]]
    prov = Provenance("ref", 0, "liae-ud", "wf", 64)
    fp32 = export_dfm(net, tmp_path / "ref.dfm", provenance=prov, probe_faces=faces).path
    fp16 = export_dfm(net, tmp_path / "ref16.dfm", provenance=prov, probe_faces=faces, fp16=True).path
    # Control: a file only a newer runtime accepts must fail here, proving this really is 1.15.1.
    ir10 = onnx.load(str(fp32))
    ir10.ir_version = 10
    too_new = tmp_path / "ir10.dfm"
    onnx.save_model(ir10, str(too_new))

    run = subprocess.run([str(ort115_python), "-c", _RUNNER, str(ref / "in_warped_dst.npy"),
                          str(fp32), str(fp16), str(too_new)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    res = json.loads(run.stdout.strip().splitlines()[-1])
    assert res["ort"] == ORT_VERSION and res["numpy"].startswith("1.")
    assert "IR version" in res["files"][str(too_new)]["load_error"]
    for path, tol in ((fp32, 1e-4), (fp16, 2e-2)):
        info = res["files"][str(path)]
        assert info["hw"] == [64, 64] and info["dtypes"] == ["float32"] * 3
        got = np.load(str(path) + ".out.npz")
        for key, name in (("face_mask", "out_face_mask"), ("celeb", "out_celeb_face"),
                          ("celeb_mask", "out_celeb_face_mask")):
            assert np.abs(got[key] - np.load(ref / f"out_dfm_{name}.npy")).max() <= tol, (path.name, key)
        assert np.abs(got["one_celeb"] - got["celeb"][:1]).max() <= tol  # batch 1 == first of the batch
