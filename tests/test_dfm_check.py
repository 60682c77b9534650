"""`neuface export --check`: every contract violation in docs/dfm-contract.md is caught for the right reason.

Each test builds a tiny real ONNX file with onnx.helper (good by default, one rule broken per case), runs the
checker (static checks plus a real onnxruntime probe) and asserts the FAIL/WARN topic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from neuface.cli import main
from neuface.export.check import Level, check_dfm, face_to_input, format_report

RES = 16
F32, F16 = TensorProto.FLOAT, TensorProto.FLOAT16
GOOD_OUTS = ("out_face_mask:0", "out_celeb_face:0", "out_celeb_face_mask:0")


def build_dfm(path: Path, *, res: int = RES, in_name: str = "in_face:0", in_shape: list | None = None,
              in_dtype: int = F32, nchw_in: bool = False, nchw_out: bool = False, out_dtype: int = F32,
              order: tuple[int, ...] = (0, 1, 2), out_names: tuple[str, ...] = GOOD_OUTS, activation: str = "Sigmoid",
              nan: bool = False, ir: int = 8, opset: int = 17, custom_node: bool = False, extra_import: bool = False,
              external: bool = False, morph: str | None = None, morph_shape: list | None = None,
              third_input: bool = False, constant_mask: bool = False) -> Path:
    """A DFM-like graph: three MatMul heads over the channel axis, sigmoid outputs; knobs break one rule each."""
    rng = np.random.default_rng(0)
    shape = in_shape or (["N", 3, res, res] if nchw_in else ["N", res, res, 3])
    inputs = [helper.make_tensor_value_info(in_name, in_dtype, shape)]
    nodes, inits = [], []
    x = in_name
    if in_dtype != F32:
        nodes.append(helper.make_node("Cast", [x], ["x32"], to=F32))
        x = "x32"
    if nchw_in:
        nodes.append(helper.make_node("Transpose", [x], ["x_nhwc"], perm=[0, 2, 3, 1]))
        x = "x_nhwc"
    heads = []
    for i, ch in enumerate((1, 3, 1)):
        w = (rng.standard_normal((3, ch)) * (3.0 if activation == "none" else 1.0)).astype(np.float32)
        if activation == "none":
            w = np.abs(w) + 1.0  # makes outputs exceed 1
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [x, f"w{i}"], [f"mm{i}"]))
        y = f"mm{i}"
        if custom_node and i == 1:
            nodes.append(helper.make_node("Gelu", [y], ["gelu1"], domain="com.microsoft"))
            y = "gelu1"
        if morph and i == 1:
            nodes.append(helper.make_node("Mul", [y, morph], ["morphed"]))
            y = "morphed"
        if third_input and i == 1:
            nodes.append(helper.make_node("Add", [y, "extra"], ["added"]))
            y = "added"
        if constant_mask and i == 0:
            nodes.append(helper.make_node("Sub", [y, y], ["zero0"]))
            y = "zero0"
        if activation != "none":
            nodes.append(helper.make_node(activation, [y], [f"act{i}"]))
            y = f"act{i}"
        if nan and i == 2:
            nodes.append(helper.make_node("Sub", [y, y], ["z2"]))
            nodes.append(helper.make_node("Div", ["z2", "z2"], ["nan2"]))
            y = "nan2"
        heads.append((y, ch))
    outputs = []
    for idx in order:
        y, ch = heads[idx]
        name = out_names[idx]  # a name travels with its head, so a permutation keeps DFL's names
        out_shape: list = ["N", res, res, ch]
        if nchw_out:
            nodes.append(helper.make_node("Transpose", [y], [f"{y}_nchw"], perm=[0, 3, 1, 2]))
            y, out_shape = f"{y}_nchw", ["N", ch, res, res]
        if out_dtype != F32:
            nodes.append(helper.make_node("Cast", [y], [f"{y}_cast"], to=out_dtype))
            y = f"{y}_cast"
        nodes.append(helper.make_node("Identity", [y], [name]))
        outputs.append(helper.make_tensor_value_info(name, out_dtype, out_shape))
    if morph:
        inputs.append(helper.make_tensor_value_info(morph, F32, morph_shape if morph_shape is not None else [1]))
    if third_input:
        inputs.append(helper.make_tensor_value_info("extra", F32, [1]))
    graph = helper.make_graph(nodes, "dfm_test", inputs, outputs, inits)
    imports = [helper.make_opsetid("", opset)]
    if custom_node:
        imports.append(helper.make_opsetid("com.microsoft", 1))
    if extra_import:
        imports.append(helper.make_opsetid("ai.onnx.ml", 2))
    model = helper.make_model(graph, opset_imports=imports, producer_name="neuface-tests")
    model.ir_version = ir
    helper.set_model_props(model, {"neuface.version": "test", "synthetic_media": "true"})
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=path.name + ".data", size_threshold=0)
    else:
        onnx.save_model(model, str(path))
    return path


def _check(tmp_path: Path, **kw):
    return check_dfm(build_dfm(tmp_path / "m.dfm", **kw))


def test_good_file_passes_and_prints_metadata(tmp_path: Path) -> None:
    rep = _check(tmp_path)
    assert rep.ok, format_report(rep)
    assert not rep.warnings
    assert rep.resolution == (RES, RES)
    assert rep.metadata["synthetic_media"] == "true"
    text = "\n".join(format_report(rep))
    assert "PASS" in text.splitlines()[0] and "synthetic_media = true" in text
    assert {"probe_load", "probe_run", "output_range", "output_finite"} <= rep.topics(Level.PASS)


@pytest.mark.parametrize(("kw", "topic"), [
    ({"order": (1, 0, 2)}, "output_order"),                    # DFL names, wrong positions
    ({"order": (0, 2, 1), "out_names": ("a", "b", "c")}, "output_channels"),  # unnamed, mask where face belongs
    ({"nchw_in": True}, "input_layout"),
    ({"nchw_out": True}, "output_channels"),
    ({"in_shape": ["N", "H", "W", 3]}, "input_size"),
    ({"in_shape": [2, RES, RES, 3]}, "input_batch"),
    ({"ir": 10}, "ir_version"),
    ({"opset": 20}, "opset"),
    ({"order": (0, 1)}, "output_count"),
    ({"in_dtype": F16}, "input_dtype"),
    ({"out_dtype": F16}, "output_dtype"),
    ({"custom_node": True}, "domains"),
    ({"external": True}, "external_data"),
    ({"in_name": "in_face"}, "input_name"),
    ({"in_name": "image"}, "input_name"),
    ({"activation": "none"}, "output_range"),
    ({"activation": "Tanh"}, "output_range"),
    ({"nan": True}, "output_finite"),
    ({"morph": "morph"}, "morph_input"),
    ({"morph": "morph_value:0", "morph_shape": [2]}, "morph_input"),
    ({"third_input": True, "morph": "morph_value:0"}, "input_count"),
])
def test_violation_is_caught_for_the_right_reason(tmp_path: Path, kw: dict, topic: str) -> None:
    rep = _check(tmp_path, **kw)
    assert not rep.ok
    assert topic in rep.topics(Level.FAIL), format_report(rep)


def test_probe_run_catches_what_deepfacelive_hits_on_the_first_frame(tmp_path: Path) -> None:
    # fp16 input: the graph loads, DeepFaceLive's float32 feed fails.
    assert "probe_run" in _check(tmp_path, in_dtype=F16).topics(Level.FAIL)
    # two outputs: the static count and the run both say so.
    assert "output_count" in _check(tmp_path, order=(0, 1)).topics(Level.FAIL)


def test_opset_18_19_warn_but_pass(tmp_path: Path) -> None:
    for opset in (18, 19):
        rep = _check(tmp_path, opset=opset)
        assert rep.ok, format_report(rep)
        assert "opset" in rep.topics(Level.WARN)


def test_extra_opset_import_alone_is_fine(tmp_path: Path) -> None:
    # DFL's own tf2onnx exports declare ai.onnx.ml without using it.
    rep = _check(tmp_path, extra_import=True)
    assert rep.ok, format_report(rep)
    assert "domains" in rep.topics(Level.PASS)


def test_morph_model_passes_and_rank0_morph_warns(tmp_path: Path) -> None:
    rep = _check(tmp_path, morph="morph_value:0")
    assert rep.ok and rep.has_morph, format_report(rep)
    rep0 = _check(tmp_path, morph="morph_value:0", morph_shape=[])
    assert rep0.ok and "morph_input" in rep0.topics(Level.WARN)


def test_renamed_outputs_warn(tmp_path: Path) -> None:
    rep = _check(tmp_path, out_names=("a", "b", "c"))
    assert rep.ok and "output_names" in rep.topics(Level.WARN)


def test_constant_output_warns(tmp_path: Path) -> None:
    rep = _check(tmp_path, constant_mask=True)
    assert "output_constant" in rep.topics(Level.WARN)


def test_invalid_graph_and_non_onnx_file(tmp_path: Path) -> None:
    # The appendix trap: version_converter leaves ReduceMean's opset-18 attribute in an opset-17 graph.
    bad = build_dfm(tmp_path / "bad.dfm")
    model = onnx.load(str(bad))
    node = helper.make_node("ReduceMean", ["act0"], ["rm"], axes=[3], keepdims=1, noop_with_empty_axes=0)
    model.graph.node.insert(len(model.graph.node), node)
    onnx.save_model(model, str(bad))
    assert "onnx_checker" in check_dfm(bad).topics(Level.FAIL)

    junk = tmp_path / "junk.dfm"
    junk.write_bytes(b"not an onnx file at all")
    assert "file" in check_dfm(junk).topics(Level.FAIL)
    assert "file" in check_dfm(tmp_path / "missing.dfm").topics(Level.FAIL)


def test_real_face_probe_is_preprocessed_like_deepfacelive(tmp_path: Path, dfl_fixtures: Path) -> None:
    import cv2

    face = cv2.imread(str(dfl_fixtures / "aligned" / "t1_0.jpg"))
    x = face_to_input(face, (RES, RES))
    assert x.shape == (1, RES, RES, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    rep = check_dfm(build_dfm(tmp_path / "m.dfm"), probe_images=[face, face[..., ::-1].copy()])
    assert rep.ok, format_report(rep)


def test_cli_check_exit_codes(tmp_path: Path, capsys) -> None:
    good = build_dfm(tmp_path / "good.dfm")
    bad = build_dfm(tmp_path / "bad.dfm", order=(2, 1, 0))
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main([*ws, "export", "--check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "metadata_props" in out
    assert main([*ws, "export", "--check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "output_order" in out
