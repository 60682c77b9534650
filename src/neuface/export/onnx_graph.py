"""From a PyTorch network to contract-exact ONNX bytes (the exporter's mechanics, no verification).

torch 2.13's default `torch.onnx.export` is the dynamo exporter, which writes IR 10, opset 20 and an
external `.data` file: all three break DeepFaceLive. We use the legacy TorchScript exporter
(`dynamo=False`, explicit opset) into memory, so the result is one self-contained protobuf.

Batch handling: the network reads `x.shape` in its reshapes, which a dynamic-batch trace turns into
hundreds of Shape/Gather/Unsqueeze nodes (slower, and output sizes left symbolic). So we trace with a
fixed example batch, where those fold to constants, then turn the batch entry of every Reshape target
into -1. That is only done when every Reshape leads with the example batch and no other shape-dependent
op exists; otherwise we fall back to a dynamic-batch trace. Either way the caller verifies the result on
a different batch size against PyTorch.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from neuface import __version__
from neuface.export import contract as C

if TYPE_CHECKING:
    import onnx
    from torch import nn

# Ops whose attributes or inputs could hide the example batch size; with any of them we keep a dynamic trace.
_SHAPE_DEPENDENT = {"Shape", "Size", "Expand", "ConstantOfShape", "Tile", "Slice", "Range", "Resize", "Split",
                    "Squeeze", "Unsqueeze", "Gather", "Upsample"}


def torch_to_onnx(net: nn.Module, example: np.ndarray, opset: int, fp16: bool, dynamic: bool) -> onnx.ModelProto:
    """Legacy-exporter trace of DfmWrapper(net) with the contract's input/output names."""
    import onnx
    import torch

    from neuface.export.wrapper import DfmWrapper

    wrapper = DfmWrapper(copy.deepcopy(net).half() if fp16 else net, half=fp16).eval()
    names = [C.INPUT_FACE, *C.OUTPUT_NAMES]
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notices are not for our users
        torch.onnx.export(
            wrapper, (torch.from_numpy(np.ascontiguousarray(example, np.float32)),), buf,
            dynamo=False, opset_version=opset, do_constant_folding=True,
            input_names=[C.INPUT_FACE], output_names=list(C.OUTPUT_NAMES),
            dynamic_axes={n: {0: "N"} for n in names} if dynamic else None,
        )
    return onnx.load_from_string(buf.getvalue())


def _constant_tensors(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    """name -> TensorProto for initializers and Constant-node outputs (mutable in place)."""
    out = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    out[node.output[0]] = a.t
    return out


def free_batch(model: onnx.ModelProto, example_batch: int) -> bool:
    """Make a fixed-batch trace batch-agnostic in place (Reshape targets lead with -1); False if unsafe."""
    from onnx import numpy_helper

    graph = model.graph
    if any(n.op_type in _SHAPE_DEPENDENT for n in graph.node):
        return False
    consts = _constant_tensors(graph)
    targets: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        t = consts.get(node.input[1])
        if t is None:
            return False
        arr = numpy_helper.to_array(t).copy()
        if arr.ndim != 1 or arr.size == 0 or int(arr[0]) != example_batch:
            return False
        arr[0] = -1
        targets[node.input[1]] = arr
    for name, arr in targets.items():
        consts[name].CopyFrom(numpy_helper.from_array(arr.astype(np.int64), name=consts[name].name))
    for vi in [*graph.input, *graph.output]:
        vi.type.tensor_type.shape.dim[0].dim_param = "N"
    del graph.value_info[:]  # intermediate shapes recorded the example batch
    return True


def set_shape(vi: onnx.ValueInfoProto, dims: Sequence[int | str]) -> None:
    shape = vi.type.tensor_type.shape
    shape.ClearField("dim")
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = d


def finish_model(model: onnx.ModelProto, res: int, metadata: dict[str, str]) -> bytes:
    """Contract-exact declarations: IR version, NHWC shapes with batch N, producer and provenance."""
    import onnx

    # IR 8 for opset <= 17 (what onnxruntime 1.15.1 and DirectML take); never below what the opset needs.
    needed = onnx.helper.find_min_ir_version_for(list(model.opset_import))
    model.ir_version = min(int(model.ir_version), max(needed, C.EXPORT_IR_VERSION))
    set_shape(model.graph.input[0], ["N", res, res, 3])
    for vi, spec in zip(model.graph.output, C.OUTPUTS, strict=True):
        set_shape(vi, ["N", res, res, spec.channels])
    model.producer_name = "neuface"
    model.producer_version = __version__
    model.graph.name = "SAEHD"
    model.doc_string = "DeepFaceLive face-swap model exported by neuface (synthetic media)"
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, metadata)
    return model.SerializeToString()


def export_bytes(net: nn.Module, example: np.ndarray, res: int, opset: int, fp16: bool,
                 metadata: dict[str, str]) -> bytes:
    """The `.dfm` bytes: fixed-batch trace made batch-agnostic when safe, else a dynamic-batch trace."""
    model = torch_to_onnx(net, example, opset, fp16, dynamic=False)
    if not free_batch(model, len(example)):
        model = torch_to_onnx(net, example, opset, fp16, dynamic=True)
    return finish_model(model, res, metadata)
