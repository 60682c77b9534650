"""`neuface export --check`: validate any `.dfm` against DeepFaceLive's contract.

Most contract violations load fine in DeepFaceLive and then show a black face or fail on the first
frame, so every rule in docs/dfm-contract.md is checked here, statically on the ONNX graph and then by
running a probe image through onnxruntime exactly the way DeepFaceLive feeds it (NHWC float32 0..1,
batch 1, literal input names). Each reason is reported as PASS / WARN / FAIL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuface.export import contract as C

if TYPE_CHECKING:
    import onnx

Dim = int | str | None


class Level(str, Enum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    """One checked rule: its level, a stable topic (tests key on it) and a human sentence."""

    level: Level
    topic: str
    message: str


@dataclass
class CheckReport:
    """Everything `--check` found about one file."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    producer: str = ""
    resolution: tuple[int, int] | None = None
    has_morph: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.FAIL]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.WARN]

    def topics(self, level: Level) -> set[str]:
        return {f.topic for f in self.findings if f.level is level}

    def add(self, level: Level, topic: str, message: str) -> None:
        self.findings.append(Finding(level, topic, message))


# --------------------------------------------------------------------------------------------------
# static checks on the graph


def _dims(value_info: onnx.ValueInfoProto) -> list[Dim] | None:
    """Declared shape as ints (fixed), strings (symbolic) or None (unknown); None when no shape."""
    tt = value_info.type.tensor_type
    if not tt.HasField("shape"):
        return None
    return [int(d.dim_value) if d.HasField("dim_value") else d.dim_param if d.HasField("dim_param") else None
            for d in tt.shape.dim]


def _dtype_name(value_info: onnx.ValueInfoProto) -> str:
    import onnx

    if not value_info.type.HasField("tensor_type"):
        return "non-tensor"
    return onnx.TensorProto.DataType.Name(value_info.type.tensor_type.elem_type)


def _walk_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """The graph and every subgraph (If/Loop/Scan bodies), depth first."""
    import onnx

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _walk_graphs(g)


def _all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Initializers and constant-attribute tensors anywhere in the model (where external data can hide)."""
    import onnx

    for g in _walk_graphs(model.graph):
        yield from g.initializer
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    yield attr.t
                elif attr.type == onnx.AttributeProto.TENSORS:
                    yield from attr.tensors


def _check_versions(model: onnx.ModelProto, rep: CheckReport) -> None:
    ir = int(model.ir_version)
    if ir > C.MAX_IR_VERSION:
        rep.add(Level.FAIL, "ir_version",
                f"IR version {ir}: onnxruntime 1.15.1 (DeepFaceLive) refuses IR > {C.MAX_IR_VERSION}")
    else:
        rep.add(Level.PASS, "ir_version", f"IR version {ir} (<= {C.MAX_IR_VERSION})")

    default = [op.version for op in model.opset_import if op.domain in C.DEFAULT_DOMAINS]
    others = sorted(f"{op.domain or 'ai.onnx'} v{op.version}" for op in model.opset_import
                    if op.domain not in C.DEFAULT_DOMAINS)
    extra = f"; extra opset imports {', '.join(others)} (harmless while no node uses them)" if others else ""
    if not default:
        rep.add(Level.FAIL, "opset", "no ai.onnx opset import" + extra)
        return
    opset = max(default)
    if opset > C.MAX_OPSET:
        rep.add(Level.FAIL, "opset", f"opset {opset}: onnxruntime 1.15.1 (DeepFaceLive) accepts <= {C.MAX_OPSET}"
                + extra)
    elif opset > C.MAX_OPSET_NO_WARN:
        rep.add(Level.WARN, "opset", f"opset {opset}: loads in onnxruntime 1.15.1, but DirectML of that era "
                f"documents <= {C.MAX_OPSET_NO_WARN}" + extra)
    else:
        rep.add(Level.PASS, "opset", f"opset {opset}" + extra)


def _check_domains(model: onnx.ModelProto, rep: CheckReport) -> None:
    foreign: dict[str, set[str]] = {}
    n_nodes = 0
    for g in _walk_graphs(model.graph):
        for node in g.node:
            n_nodes += 1
            if node.domain not in C.DEFAULT_DOMAINS:
                foreign.setdefault(node.domain, set()).add(node.op_type)
    if foreign:
        what = "; ".join(f"{d}: {', '.join(sorted(ops))}" for d, ops in sorted(foreign.items()))
        rep.add(Level.FAIL, "domains", f"nodes outside the default ai.onnx domain ({what}): "
                "DeepFaceLive's onnxruntime/DirectML may not implement them")
    else:
        rep.add(Level.PASS, "domains", f"all {n_nodes} nodes in the default ai.onnx domain")


def _check_external_data(model: onnx.ModelProto, path: Path, rep: CheckReport) -> None:
    import onnx

    locations = {next((e.value for e in t.external_data if e.key == "location"), "?")
                 for t in _all_tensors(model) if t.data_location == onnx.TensorProto.EXTERNAL}
    if locations:
        rep.add(Level.FAIL, "external_data", f"weights stored outside the file ({', '.join(sorted(locations))}): "
                "users copy only the .dfm, so it must be self-contained")
    else:
        rep.add(Level.PASS, "external_data", "self-contained (no external data)")
    size = path.stat().st_size
    if size > C.MAX_FILE_BYTES:
        rep.add(Level.FAIL, "file_size", f"{size} bytes: a single ONNX file must stay under 2 GiB")


def _check_onnx_valid(model: onnx.ModelProto, rep: CheckReport) -> None:
    import onnx

    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # the checker raises several types; all mean "invalid graph"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        rep.add(Level.FAIL, "onnx_checker", f"onnx.checker rejects the graph: {first}")
    else:
        rep.add(Level.PASS, "onnx_checker", "onnx.checker accepts the graph")


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Inputs as onnxruntime lists them (initializers that are also inputs excluded)."""
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _check_face_input(vi: onnx.ValueInfoProto, rep: CheckReport) -> None:
    name = vi.name
    if name == C.INPUT_FACE:
        rep.add(Level.PASS, "input_name", f"input 0 is {C.INPUT_FACE!r}")
    elif C.INPUT_FACE.split(":")[0] in name:
        rep.add(Level.FAIL, "input_name", f"input 0 is {name!r}: DeepFaceLive loads it but feeds the literal key "
                f"{C.INPUT_FACE!r}, so the first frame fails")
    else:
        rep.add(Level.FAIL, "input_name", f"input 0 is {name!r}: DeepFaceLive requires a name containing 'in_face' "
                f"(exactly {C.INPUT_FACE!r})")

    dtype = _dtype_name(vi)
    if dtype == "FLOAT":
        rep.add(Level.PASS, "input_dtype", "input 0 is float32")
    else:
        rep.add(Level.FAIL, "input_dtype", f"input 0 is {dtype}: DeepFaceLive feeds float32")

    dims = _dims(vi)
    if dims is None or len(dims) != 4:
        got = "no declared shape" if dims is None else f"rank {len(dims)} {dims}"
        rep.add(Level.FAIL, "input_rank", f"input 0 has {got}: expected NHWC [N, R, R, 3]")
        return
    rep.add(Level.PASS, "input_rank", f"input 0 is 4-D {dims}")
    n, h, w, c = dims
    if c != 3:
        hint = " (looks NCHW: DeepFaceLive reads H from shape[1])" if dims[1] == 3 else ""
        rep.add(Level.FAIL, "input_layout", f"input 0 last dim is {c!r}, expected 3 channels (NHWC){hint}")
        return  # H/W are meaningless in a non-NHWC layout
    rep.add(Level.PASS, "input_layout", "input 0 is NHWC with 3 channels")
    if not (isinstance(h, int) and isinstance(w, int)):
        rep.add(Level.FAIL, "input_size", f"input 0 H/W are not fixed ({h!r}, {w!r}): DeepFaceLive resizes to "
                "shape[1:3] and fails on symbolic sizes")
    else:
        rep.resolution = (h, w)
        if h != w:
            rep.add(Level.WARN, "input_size", f"input 0 is {h}x{w}: not square; DeepFaceLive aligns square faces")
        else:
            rep.add(Level.PASS, "input_size", f"resolution {h}x{w}")
    if isinstance(n, int) and n != 1:
        rep.add(Level.FAIL, "input_batch", f"input 0 batch is fixed to {n}: DeepFaceLive feeds batch 1")
    else:
        rep.add(Level.PASS, "input_batch", f"batch {'1' if n == 1 else 'dynamic'}")


def _check_morph_input(vi: onnx.ValueInfoProto, rep: CheckReport) -> None:
    rep.has_morph = True
    problems = []
    if vi.name != C.INPUT_MORPH:
        problems.append(f"named {vi.name!r} (DeepFaceLive needs {C.INPUT_MORPH!r})")
    if _dtype_name(vi) != "FLOAT":
        problems.append(f"dtype {_dtype_name(vi)} (expected float32)")
    dims = _dims(vi)
    if problems:
        rep.add(Level.FAIL, "morph_input", "morph input " + "; ".join(problems))
    elif dims == []:
        rep.add(Level.WARN, "morph_input", "morph input declared rank-0: works, but declare shape [1]")
    elif dims is None or len(dims) != 1 or isinstance(dims[0], int) and dims[0] != 1:
        rep.add(Level.FAIL, "morph_input", f"morph input shape {dims}: DeepFaceLive feeds float32 [1]")
    else:
        rep.add(Level.PASS, "morph_input", f"morph input {C.INPUT_MORPH!r} float32 [1]")


def _check_inputs(model: onnx.ModelProto, rep: CheckReport) -> None:
    inputs = _graph_inputs(model)
    if not inputs:
        rep.add(Level.FAIL, "input_count", "the graph has no inputs")
        return
    if len(inputs) > 2:
        rep.add(Level.FAIL, "input_count", f"{len(inputs)} inputs ({', '.join(i.name for i in inputs)}): "
                "DeepFaceLive accepts 1 (plain) or 2 (morph)")
    else:
        rep.add(Level.PASS, "input_count", f"{len(inputs)} input(s)")
    _check_face_input(inputs[0], rep)
    if len(inputs) >= 2:
        _check_morph_input(inputs[1], rep)


def _check_outputs(model: onnx.ModelProto, rep: CheckReport) -> None:
    outs = list(model.graph.output)
    names = [o.name for o in outs]
    if len(outs) != len(C.OUTPUTS):
        rep.add(Level.FAIL, "output_count", f"{len(outs)} outputs ({', '.join(names)}): DeepFaceLive unpacks "
                f"exactly {len(C.OUTPUTS)}: {', '.join(C.OUTPUT_NAMES)}")
        return
    rep.add(Level.PASS, "output_count", f"{len(outs)} outputs")

    bad_dtype = [f"{o.name} is {_dtype_name(o)}" for o in outs if _dtype_name(o) != "FLOAT"]
    if bad_dtype:
        rep.add(Level.FAIL, "output_dtype", "outputs must be float32: " + "; ".join(bad_dtype))
    else:
        rep.add(Level.PASS, "output_dtype", "outputs are float32")

    if set(names) == set(C.OUTPUT_NAMES) and names != list(C.OUTPUT_NAMES):
        rep.add(Level.FAIL, "output_order", f"outputs in the wrong order ({', '.join(names)}): DeepFaceLive "
                f"unpacks them positionally as {', '.join(C.OUTPUT_NAMES)}")
    elif names != list(C.OUTPUT_NAMES):
        rep.add(Level.WARN, "output_names", f"output names {names} differ from DeepFaceLab's "
                f"{list(C.OUTPUT_NAMES)} (DeepFaceLive ignores names, other tools read them)")
    else:
        rep.add(Level.PASS, "output_order", "outputs named and ordered as DeepFaceLab's")

    _check_output_shapes([_dims(o) for o in outs], rep, "declared")


def _check_output_shapes(shapes: Sequence[Sequence[Dim] | None], rep: CheckReport, where: str) -> None:
    """Channels (1, 3, 1) in NHWC and spatial size equal to the input's, for declared or probed shapes."""
    problems, warnings = [], []
    for i, (spec, dims) in enumerate(zip(C.OUTPUTS, shapes, strict=True)):
        if dims is None or any(d is None for d in dims):
            continue
        if len(dims) != 4:
            problems.append(f"output {i} is rank {len(dims)} {list(dims)}, expected NHWC [N, R, R, {spec.channels}]")
            continue
        c = dims[3]
        if isinstance(c, int) and c != spec.channels:
            hint = " (looks NCHW)" if dims[1] == spec.channels else ""
            problems.append(f"output {i} ({spec.meaning}) has {c} channels, expected {spec.channels}{hint}")
        if rep.resolution and all(isinstance(d, int) for d in dims[1:3]) and tuple(dims[1:3]) != rep.resolution:
            warnings.append(f"output {i} is {dims[1]}x{dims[2]}, input is {rep.resolution[0]}x{rep.resolution[1]}")
    if problems:
        rep.add(Level.FAIL, "output_channels", f"{where} output shapes: " + "; ".join(problems)
                + " — outputs must be face mask [.,1], celeb face [.,3], celeb mask [.,1] in this order")
    elif warnings:
        rep.add(Level.WARN, "output_size", f"{where} output size differs (resized back by DeepFaceLive): "
                + "; ".join(warnings))
    else:
        rep.add(Level.PASS, "output_channels", f"{where} output shapes are NHWC with channels 1, 3, 1")


# --------------------------------------------------------------------------------------------------
# probe run


def synthetic_probe(res: int, seed: int = 0) -> np.ndarray:
    """A smooth, deterministic BGR uint8 image (HWC) for files whose owner gave no face crop."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    return cv2.resize(small, (res, res), interpolation=cv2.INTER_CUBIC)


def face_to_input(image: np.ndarray, res: tuple[int, int]) -> np.ndarray:
    """DeepFaceLive's preprocessing: bilinear resize to (W, H), 3 channels, float32 0..1, NHWC batch 1."""
    import cv2

    h, w = res
    img = image
    if img.shape[:2] != (h, w):
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)  # drops a single channel's axis
    if img.ndim == 2:
        img = img[..., None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = img[..., :3]
    x = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    return x[None]


def _probe(path: Path, rep: CheckReport, images: Sequence[np.ndarray]) -> None:
    from neuface.runtime import ort_session

    try:
        sess = ort_session(path, device="cpu")
    except Exception as exc:
        rep.add(Level.FAIL, "probe_load", f"onnxruntime cannot load the file: {_one_line(exc)}")
        return
    import onnxruntime as ort

    rep.add(Level.PASS, "probe_load", f"loads in onnxruntime {ort.__version__} (CPU)")
    if rep.resolution is None:
        rep.add(Level.FAIL, "probe_run", "not run: the input resolution is unknown")
        return
    outs_all: list[list[np.ndarray]] = []
    for img in images:
        feed: dict[str, Any] = {C.INPUT_FACE: face_to_input(img, rep.resolution)}
        if rep.has_morph:
            feed[C.INPUT_MORPH] = np.float32([C.DEFAULT_MORPH])
        try:
            outs = sess.run(None, feed)
        except Exception as exc:
            rep.add(Level.FAIL, "probe_run", f"DeepFaceLive's feed fails on the first frame: {_one_line(exc)}")
            return
        outs_all.append([np.asarray(o) for o in outs])
    rep.add(Level.PASS, "probe_run", f"ran {len(images)} probe image(s) at batch 1 with DeepFaceLive's feed")
    _check_probe_outputs(outs_all, rep)


def _check_probe_outputs(runs: list[list[np.ndarray]], rep: CheckReport) -> None:
    first = runs[0]
    if len(first) != len(C.OUTPUTS):
        rep.add(Level.FAIL, "output_count", f"the run returned {len(first)} outputs, DeepFaceLive unpacks 3")
        return
    bad = [f"output {i} is {o.dtype}" for i, o in enumerate(first) if o.dtype != np.float32]
    if bad:
        rep.add(Level.FAIL, "output_dtype", "run outputs must be float32: " + "; ".join(bad))
    _check_output_shapes([list(o.shape) for o in first], rep, "probed")

    flat = [np.concatenate([r[i].astype(np.float64).ravel() for r in runs]) for i in range(len(first))]
    nonfinite = [f"output {i}" for i, v in enumerate(flat) if not np.isfinite(v).all()]
    if nonfinite:
        rep.add(Level.FAIL, "output_finite", "NaN/Inf in " + ", ".join(nonfinite))
        return
    rep.add(Level.PASS, "output_finite", "no NaN/Inf")
    lo, hi = -C.RANGE_SLACK, 1.0 + C.RANGE_SLACK
    out_of_range = [f"output {i} spans {v.min():.4g}..{v.max():.4g}" for i, v in enumerate(flat)
                    if v.min() < lo or v.max() > hi]
    if out_of_range:
        rep.add(Level.FAIL, "output_range", "outputs must be in 0..1 (sigmoid); " + "; ".join(out_of_range)
                + ": DeepFaceLive clips silently, giving a black/white face")
    else:
        spans = ", ".join(f"{v.min():.3f}..{v.max():.3f}" for v in flat)
        rep.add(Level.PASS, "output_range", f"outputs in 0..1 ({spans})")
    constant = [f"output {i}" for i, v in enumerate(flat) if v.size and float(v.max() - v.min()) == 0.0]
    if constant:
        rep.add(Level.WARN, "output_constant", f"{', '.join(constant)} constant on the probe images")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return (text[:300] + "…") if len(text) > 300 else (text or type(exc).__name__)


# --------------------------------------------------------------------------------------------------
# entry points


def check_model(model: onnx.ModelProto, path: Path, rep: CheckReport | None = None) -> CheckReport:
    """All static checks on an already-parsed model (no onnxruntime)."""
    rep = rep or CheckReport(path=path)
    rep.metadata = {p.key: p.value for p in model.metadata_props}
    rep.producer = " ".join(x for x in (model.producer_name, model.producer_version) if x)
    _check_versions(model, rep)
    _check_domains(model, rep)
    _check_external_data(model, path, rep)
    _check_onnx_valid(model, rep)
    _check_inputs(model, rep)
    _check_outputs(model, rep)
    return rep


def check_dfm(path: str | os.PathLike[str], probe_images: Sequence[np.ndarray] | None = None,
              run_probe: bool = True) -> CheckReport:
    """Validate the file at `path`; `probe_images` are HWC BGR uint8 face crops (synthetic if none)."""
    import onnx

    path = Path(path)
    rep = CheckReport(path=path)
    if not path.is_file():
        rep.add(Level.FAIL, "file", f"{path}: no such file")
        return rep
    try:
        model = onnx.load(os.fspath(path), load_external_data=False)
    except Exception as exc:
        rep.add(Level.FAIL, "file", f"not an ONNX model: {_one_line(exc)}")
        return rep
    check_model(model, path, rep)
    if run_probe:
        images = list(probe_images) if probe_images else [synthetic_probe(rep.resolution[0] if rep.resolution
                                                                          else 64)]
        _probe(path, rep, images)
    return rep


def format_report(rep: CheckReport) -> list[str]:
    """Plain lines for the terminal: verdict, one line per reason, then producer and metadata."""
    lines = [f"{rep.path}: {'PASS' if rep.ok else 'FAIL'}"
             + (f" ({len(rep.warnings)} warning(s))" if rep.ok and rep.warnings else "")]
    width = max((len(f.topic) for f in rep.findings), default=0)
    lines += [f"  {f.level.value:4}  {f.topic:<{width}}  {f.message}" for f in rep.findings]
    if rep.producer:
        lines.append(f"  producer: {rep.producer}")
    if rep.metadata:
        lines.append("  metadata_props:")
        lines += [f"    {k} = {v}" for k, v in sorted(rep.metadata.items())]
    else:
        lines.append("  metadata_props: (none)")
    return lines
