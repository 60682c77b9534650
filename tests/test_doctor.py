"""`neuface doctor` and the weight registry, on this machine's real install."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from neuface import weights
from neuface.cli import main
from neuface.doctor import FAIL, INFO, OK, collect, conflict_checks
from neuface.runtime import cuda_available
from neuface.workspace import Side, Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace.at(tmp_path / "ws")
    ws.ensure_layout()
    (ws.root / "data_src.mp4").write_bytes(b"v")
    for i in range(1, 4):
        (ws.frames_dir(Side.src) / f"{i:05d}.png").write_bytes(b"f")
    for i in range(2):
        (ws.aligned_dir(Side.src) / f"{i:05d}_0.jpg").write_bytes(b"a")
    ws.pak_file(Side.dst).write_bytes(b"\0" * 2**20)
    (ws.model_dir / "new_SAEHD_data.dat").write_bytes(b"m")
    return ws


def test_report_on_this_install(ws: Workspace) -> None:
    report = collect(ws)
    assert report.usable, report.failures
    for name in ("python", "torch", "numpy", "opencv", "av (PyAV)", "onnxruntime", "onnx", "dlib"):
        check = report.get("versions", name)
        assert check is not None and check.status == OK and check.value
    assert "CPUExecutionProvider" in report.get("versions", "onnxruntime").value
    assert "FFmpeg" in report.get("versions", "av (PyAV)").value
    device = report.get("device", "device (auto)").value
    assert device == ("cuda:0" if cuda_available() else "cpu")
    assert report.get("device", "precision (auto)").value.split(":")[0] in ("fp32", "bf16", "fp16")
    assert report.get("device", "cuda") is not None


def test_workspace_state(ws: Workspace) -> None:
    report = collect(ws)
    src = report.get("workspace", "data_src").value
    assert "data_src.mp4" in src and "frames: 3" in src and "aligned: 2" in src
    dst = report.get("workspace", "data_dst").value
    assert "frames: 0" in dst and "faceset.pak 1.0 MiB" in dst
    assert "new_SAEHD_data.dat" in report.get("workspace", "model").value


def test_missing_workspace_is_not_a_failure(tmp_path: Path) -> None:
    report = collect(Workspace.at(tmp_path / "nothing"))
    assert report.usable
    assert report.get("workspace", "root").status == INFO


def test_dlib_weights_found_by_path(ws: Workspace) -> None:
    report = collect(ws)
    for name in ("shape_predictor_68_face_landmarks.dat", "mmod_human_face_detector.dat",
                 "dlib_face_recognition_resnet_model_v1.dat"):
        check = report.get("weights", name)
        assert check.status == OK
        assert Path(check.value.splitlines()[0]).is_file()


def test_weights_registry_does_not_import_face_recognition_models() -> None:
    code = ("import sys; from neuface import weights; found = weights.survey(); "
            "assert found[0][1] is not None; assert 'face_recognition_models' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_buffalo_found_in_insightface_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path / "if"))
    assert weights.locate("buffalo_l.detector") is None
    pack = tmp_path / "if" / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    (pack / "det_10g.onnx").write_bytes(b"onnx")
    assert weights.locate("buffalo_l.detector") == pack / "det_10g.onnx"
    extra = tmp_path / "mine"
    extra.mkdir()
    (extra / "det_10g.onnx").write_bytes(b"onnx")
    assert weights.locate("buffalo_l.detector", extra_dirs=(extra,)) == extra / "det_10g.onnx"
    with pytest.raises(KeyError):
        weights.locate("no.such.weight")


def test_every_weight_declares_a_licence() -> None:
    keys = [w.key for w in weights.REGISTRY]
    assert len(keys) == len(set(keys))
    for w in weights.REGISTRY:
        # a hand-installed optional package has no folder until installed, but says how to get it
        assert w.licence and w.used_by and (weights.root_dirs(w.root) or w.install)


def test_conflicting_distributions_fail() -> None:
    # numpy and scipy are both installed: declared as rivals, they must be reported.
    (check,) = conflict_checks((("fake", ("numpy", "scipy", "not-installed-dist")),))
    assert check.status == FAIL and "numpy, scipy" in check.value
    assert conflict_checks((("fake", ("numpy", "not-installed-dist")),)) == []


def test_cli_prints_report_and_exits_0(ws: Workspace, capsys) -> None:
    assert main(["--workspace", str(ws.root), "doctor"]) == 0
    out = capsys.readouterr().out
    assert "usable" in out and "torch" in out and "data_src" in out


def test_cli_json(ws: Workspace, capsys) -> None:
    assert main(["--workspace", str(ws.root), "doctor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["usable"] is True
    assert {c["section"] for c in data["checks"]} == {"versions", "device", "weights", "workspace"}


@pytest.mark.skipif(cuda_available(), reason="needs a machine without CUDA")
def test_cli_unusable_device_exits_1(ws: Workspace, capsys) -> None:
    assert main(["--workspace", str(ws.root), "--device", "cuda", "doctor"]) == 1
    assert "CUDA is not available" in capsys.readouterr().err


def test_cli_bad_precision_exits_1(ws: Workspace, capsys) -> None:
    assert main(["--workspace", str(ws.root), "--precision", "fp8", "doctor", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["usable"] is False
    assert any(c["status"] == FAIL and "fp8" in c["value"] for c in data["checks"])


def test_table_prints_install_hints_with_brackets(capsys) -> None:
    """A check's value such as `pip install 'neuface[cpu]'` is printed as written, not read as rich markup."""
    from neuface.doctor import Check, DoctorReport, render

    hint = "onnxruntime is not installed: pip install 'neuface[cpu]' (or 'neuface[gpu]' on CUDA)"
    render(DoctorReport([Check("versions", "onnx[runtime]", hint, FAIL)]))
    out = " ".join(capsys.readouterr().out.split())
    assert "'neuface[cpu]' (or 'neuface[gpu]' on CUDA)" in out and "onnx[runtime]" in out
