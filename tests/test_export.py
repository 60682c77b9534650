"""`neuface export`: the real SAEHD module with DFL's fixture weights -> .dfm that matches DFL's own .dfm,
verifies itself, carries provenance, and leaves nothing behind when verification fails."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from neuface.cli import main
from neuface.dfl.safe_pickle import dumps_compat
from neuface.dfl.weights import load_weight_file
from neuface.errors import UsageError
from neuface.export.check import check_dfm
from neuface.export.dfm import ExportError, export_dfm
from neuface.export.faces import faces_batch
from neuface.export.provenance import Provenance
from neuface.export.verify import compare_outputs, run_dfm
from neuface.train.archi import parse_archi
from neuface.train.nn import SAEHD, SAEHDDims

OUT_KEYS = ("out_face_mask", "out_celeb_face", "out_celeb_face_mask")


@pytest.fixture(scope="module")
def ref_dir(model_fixtures: Path) -> Path:
    return model_fixtures / "saehd_liae_ud_64"


def _fixture_net(ref_dir: Path, cls: type[SAEHD] = SAEHD) -> SAEHD:
    net = cls(SAEHDDims(64, parse_archi("liae-ud"), 64, 32, 32, 16))
    for part, module in net.parts():
        load_weight_file(module, part, ref_dir / "weights" / f"ref_SAEHD_{part}.npy")
    return net.eval()


@pytest.fixture(scope="module")
def net(ref_dir: Path) -> SAEHD:
    return _fixture_net(ref_dir)


@pytest.fixture(scope="module")
def faces(dfl_fixtures: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((dfl_fixtures / "aligned").glob("*.jpg"))]


@pytest.fixture(scope="module")
def provenance() -> Provenance:
    return Provenance(model_name="ref", iteration=1234, archi="liae-ud", face_type="wf", resolution=64,
                      faceset_fingerprint="src:abc123,dst:def456", consent="All people shown agreed in writing.")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, net: SAEHD, faces, provenance):
    out = tmp_path_factory.mktemp("exp") / "ref.dfm"
    return export_dfm(net, out, provenance=provenance, probe_faces=faces)


def test_export_reproduces_dfl_dfm_outputs(exported, ref_dir: Path) -> None:
    outs = run_dfm(exported.path, np.load(ref_dir / "in_warped_dst.npy"))
    for key, out in zip(OUT_KEYS, outs, strict=True):
        ref = np.load(ref_dir / f"out_dfm_{key}.npy")
        assert out.shape == ref.shape and out.dtype == np.float32
        assert np.abs(out - ref).max() <= 1e-4, key


def test_export_is_contract_exact(exported) -> None:
    path = exported.path
    model = onnx.load(str(path), load_external_data=False)
    assert model.ir_version == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert {n.domain for n in model.graph.node} <= {""}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # one self-contained file, no temp leftovers
    assert [i.name for i in model.graph.input] == ["in_face:0"]
    assert [o.name for o in model.graph.output] == ["out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0"]
    dims = [[d.dim_value or d.dim_param for d in o.type.tensor_type.shape.dim]
            for o in [*model.graph.input, *model.graph.output]]
    assert dims == [["N", 64, 64, 3], ["N", 64, 64, 1], ["N", 64, 64, 3], ["N", 64, 64, 1]]
    # Fixed-size reshapes: no Shape/Gather chains (the DFL .dfm of these weights has 153 nodes).
    assert not {"Shape", "Gather"} & {n.op_type for n in model.graph.node}
    assert len(model.graph.node) < 200
    rep = check_dfm(path)
    assert rep.ok and not rep.warnings, rep.findings
    assert exported.verification.ok and max(exported.verification.max_abs_diff.values()) <= 1e-4
    assert exported.n_faces == 5  # the real aligned crops


def test_provenance_metadata(exported, provenance: Provenance) -> None:
    props = {p.key: p.value for p in onnx.load(str(exported.path), load_external_data=False).metadata_props}
    assert props["synthetic_media"] == "true"
    assert props["consent"] == provenance.consent
    assert props["faceset_fingerprint"] == "src:abc123,dst:def456"
    assert (props["model_name"], props["iteration"], props["archi"]) == ("ref", "1234", "liae-ud")
    assert (props["face_type"], props["resolution"], props["precision"]) == ("wf", "64", "fp32")
    assert props["neuface.version"] and props["created"].endswith("+00:00")


def test_fp16_export(tmp_path: Path, net: SAEHD, faces, provenance, ref_dir: Path, exported) -> None:
    res = export_dfm(net, tmp_path / "ref16.dfm", provenance=provenance, fp16=True, probe_faces=faces[:2])
    model = onnx.load(str(res.path))
    io_types = {v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]}
    assert io_types == {onnx.TensorProto.FLOAT}
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    assert res.path.stat().st_size < 0.6 * exported.path.stat().st_size
    outs = run_dfm(res.path, np.load(ref_dir / "in_warped_dst.npy"))
    for key, out in zip(OUT_KEYS, outs, strict=True):
        assert np.abs(out - np.load(ref_dir / f"out_dfm_{key}.npy")).max() <= 2e-2, key
    assert res.metadata["precision"] == "fp16"
    assert {p.dtype for p in net.parameters()} == {torch.float32}  # the caller's model is untouched


def test_semantic_order_check_catches_swapped_masks(exported, faces) -> None:
    batch = faces_batch(faces, 64)
    outs = run_dfm(exported.path, batch)
    assert compare_outputs(outs, outs, 1e-4).ok
    swapped = [outs[2], outs[1], outs[0]]
    ver = compare_outputs(swapped, outs, 1.0)  # tolerance loose: only the order check can fail
    assert not ver.ok and "out of order" in ver.problems[0]


class _TanhSAEHD(SAEHD):
    """A real SAEHD whose face output is mapped to -1..1 (a tanh-style head): contract violation."""

    def merge(self, x):
        img, mask, dst_mask = super().merge(x)
        return img * 2 - 1, mask, dst_mask


class _BranchySAEHD(SAEHD):
    """Data-dependent Python control flow: the trace bakes in one branch, so the export differs from eager."""

    def merge(self, x):
        img, mask, dst_mask = super().merge(x)
        if float(x.mean()) > 0.35:
            return img, mask, dst_mask
        return img.flip(-1), mask, dst_mask


@pytest.mark.parametrize(("cls", "reason"), [(_TanhSAEHD, "output_range"), (_BranchySAEHD, "differs from PyTorch")])
def test_failed_verification_leaves_no_file(tmp_path: Path, ref_dir: Path, faces, provenance, cls, reason) -> None:
    out = tmp_path / "model.dfm"
    out.write_bytes(b"previous good export")
    bad = _fixture_net(ref_dir, cls)
    probe = faces if cls is _TanhSAEHD else [np.full_like(faces[0], 255), faces[0], *[np.zeros_like(faces[0])] * 3]
    batch = faces_batch(probe, 64)
    assert cls is _TanhSAEHD or batch[:2].mean() > 0.35 > batch.mean()  # trace and verification branch apart
    with pytest.raises(ExportError, match=reason):
        export_dfm(bad, out, provenance=provenance, probe_faces=probe)
    assert out.read_bytes() == b"previous good export"
    assert [p.name for p in tmp_path.iterdir()] == ["model.dfm"]


def test_bad_opset_is_refused_before_any_work(tmp_path: Path, net: SAEHD, provenance) -> None:
    with pytest.raises(UsageError, match="opset 20"):
        export_dfm(net, tmp_path / "x.dfm", provenance=provenance, opset=20)
    assert not list(tmp_path.iterdir())


def _dfl_model_folder(ws: Path, ref_dir: Path, face_type: str) -> Path:
    """A model folder in DFL's layout from the fixture weights, plus neuface-only state."""
    model_dir = ws / "model"
    model_dir.mkdir(parents=True)
    for part in ("encoder", "inter_AB", "inter_B", "decoder"):
        shutil.copyfile(ref_dir / "weights" / f"ref_SAEHD_{part}.npy", model_dir / f"me_SAEHD_{part}.npy")
    options = json.loads((ref_dir / "meta.json").read_text())["options"]
    options["face_type"] = face_type
    data = {"iter": 777, "options": options, "loss_history": [], "sample_for_preview": None,
            "choosed_gpu_indexes": None,
            "neuface": {"faceset_fingerprints": {"src": "s1", "dst": "d2"}, "consent": "Both people consented."}}
    (model_dir / "me_SAEHD_data.dat").write_bytes(dumps_compat(data))
    return model_dir


def test_cli_exports_model_folder_and_checks_it(tmp_path: Path, ref_dir: Path, dfl_fixtures: Path,
                                                capsys) -> None:
    ws = tmp_path / "ws"
    _dfl_model_folder(ws, ref_dir, face_type="f")
    aligned = ws / "data_dst" / "aligned"
    aligned.mkdir(parents=True)
    for p in sorted((dfl_fixtures / "aligned").glob("t1_*.jpg"))[:2]:
        shutil.copyfile(p, aligned / p.name)
    assert main(["--workspace", str(ws), "export"]) == 0
    out = ws / "model" / "me_SAEHD_model.dfm"
    err = capsys.readouterr().err
    assert "not 'wf'" in err and "from the workspace" in err
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert (props["iteration"], props["face_type"], props["consent"]) == ("777", "f", "Both people consented.")
    assert props["faceset_fingerprint"] == "dst:d2,src:s1"
    assert main(["--workspace", str(ws), "export", "--check", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PASS" in text.splitlines()[0] and "consent = Both people consented." in text


def test_cli_reports_missing_model(tmp_path: Path, capsys) -> None:
    assert main(["--workspace", str(tmp_path), "export", str(tmp_path / "x.dfm")]) == 2
    assert "no SAEHD model" in capsys.readouterr().err
    assert not (tmp_path / "x.dfm").exists()


def test_training_loop_call_with_saehd_model(tmp_path: Path, ref_dir: Path, faces) -> None:
    """What the trainer does at a backup: export_dfm(SAEHDModel, path, name=...) reads provenance from the model."""
    from neuface.train.model_folder import find_model, load_model

    model_dir = _dfl_model_folder(tmp_path / "ws", ref_dir, face_type="wf")
    model = load_model(find_model(model_dir, "me"), device="cpu", training=True)
    res = export_dfm(model, tmp_path / "backup" / "me.dfm", name="me", probe_faces=faces[:2])
    assert res.path.is_file() and not res.warnings
    assert (res.metadata["model_name"], res.metadata["iteration"], res.metadata["face_type"]) == ("me", "777", "wf")
    assert res.metadata["consent"] == "Both people consented."
    assert next(model.net.parameters()).dtype == torch.float32


def test_mid_full_model_exports_with_face_type_mf(tmp_path: Path, ref_dir: Path, faces) -> None:
    """A mid-full (`mf`) model's .dfm says `mf`; DFL's long names (`midfull_face`, what DFL writes in aligned
    faces) map through the one FaceType table, for every face type a model can have."""
    from neuface.dfl.facetype import FaceType
    from neuface.train.model_folder import find_model, load_model

    model_dir = _dfl_model_folder(tmp_path / "ws", ref_dir, face_type="mf")
    model = load_model(find_model(model_dir, "me"), device="cpu", training=False)
    res = export_dfm(model, tmp_path / "me.dfm", name="me", probe_faces=faces[:1])
    props = {p.key: p.value for p in onnx.load(str(res.path)).metadata_props}
    assert props["face_type"] == res.metadata["face_type"] == "mf"
    for ft in (FaceType.HALF, FaceType.MID_FULL, FaceType.FULL, FaceType.WHOLE_FACE, FaceType.HEAD):
        for name in (ft.dfl_name, ft.short_name, ft.short_name.upper()):
            assert Provenance.from_state("m", {"face_type": name}, 1).face_type == ft.short_name, name
    assert Provenance.from_state("m", {"face_type": "midfull_face"}, 1).face_type == "mf"
