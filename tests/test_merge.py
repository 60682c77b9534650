"""`neuface merge`: real .dfm files (DFL fixture weights exported by neuface, and an identity model built with
onnx.helper), a real clip with AAC audio (trimmed), real dlib detection, real onnxruntime and PyAV. The video
test with a trained model (frames, duration, audio, metadata) is in test_merge_trained.py."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from neuface.cli import main
from neuface.dfl.align import get_transform_mat, transform_points
from neuface.extract.video import VideoSource
from neuface.merge.faces import DetectedFaces
from neuface.merge.label import label_rect

CLIP_FRAMES = 16
RES_IDENTITY = 128


def _trim(src: Path, dst: Path, n_frames: int) -> None:
    """The first `n_frames` of `src` re-encoded (H.264), with the audio packets of that span copied."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if inp.streams.audio else None
        vout = out.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, "yuv420p"
        aout = out.add_stream_from_template(ain) if ain is not None else None
        end = None
        for i, frame in enumerate(inp.decode(vin)):
            if i == n_frames:
                end = frame.pts * frame.time_base
                break
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(vout.encode(frame))
        out.mux(vout.encode(None))
        if ain is None:
            return
        inp.seek(0)
        for pkt in inp.demux(ain):
            if pkt.dts is None or pkt.pts * pkt.time_base >= end:
                continue
            pkt.stream = aout
            out.mux(pkt)


def identity_dfm(path: Path, res: int) -> Path:
    """A contract-valid .dfm whose swapped face is its input and whose masks are all ones."""
    x = helper.make_tensor_value_info("in_face:0", TensorProto.FLOAT, ["N", res, res, 3])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", res, res, c]) for n, c in
            (("out_face_mask:0", 1), ("out_celeb_face:0", 3), ("out_celeb_face_mask:0", 1))]
    inits = [helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in (("s0", 0), ("s1", 1), ("ax", 3))]
    inits += [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]), helper.make_tensor("one", TensorProto.FLOAT,
                                                                                          [], [1.0])]
    nodes = [
        helper.make_node("Slice", ["in_face:0", "s0", "s1", "ax"], ["c0"]),
        helper.make_node("Mul", ["c0", "zero"], ["z"]),
        helper.make_node("Add", ["z", "one"], ["out_face_mask:0"]),
        helper.make_node("Identity", ["in_face:0"], ["out_celeb_face:0"]),
        helper.make_node("Identity", ["out_face_mask:0"], ["out_celeb_face_mask:0"]),
    ]
    graph = helper.make_graph(nodes, "identity", [x], outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, {"model_name": "identity", "iteration": "7", "face_type": "wf"})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def clip(real_media: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clip") / "dst.mp4"
    _trim(real_media / "talking_head_tpsmm.mp4", out, CLIP_FRAMES)
    return out


@pytest.fixture(scope="module")
def input_frames(clip: Path) -> list[np.ndarray]:
    with VideoSource(clip) as src:
        return [d.to_bgr() for d in src.frames()]


@pytest.fixture(scope="module")
def landmarks(input_frames) -> list[list[np.ndarray]]:
    """What the merge's own detector finds (the same dlib backend, so the same landmarks)."""
    det = DetectedFaces("dlib")
    return [[f.landmarks for f in faces] for faces in det.faces(list(range(1, len(input_frames) + 1)), input_frames)]


@pytest.fixture(scope="module")
def ref_dfm(model_fixtures: Path, tmp_path_factory) -> Path:
    from neuface.dfl.weights import load_weight_file
    from neuface.export.dfm import export_dfm
    from neuface.export.provenance import Provenance
    from neuface.train.archi import parse_archi
    from neuface.train.nn import SAEHD, SAEHDDims

    net = SAEHD(SAEHDDims(64, parse_archi("liae-ud"), 64, 32, 32, 16))
    for part, module in net.parts():
        load_weight_file(module, part, model_fixtures / "saehd_liae_ud_64" / "weights" / f"ref_SAEHD_{part}.npy")
    out = tmp_path_factory.mktemp("dfm") / "ref.dfm"
    export_dfm(net.eval(), out, provenance=Provenance("ref", 1234, "liae-ud", "wf", 64))
    return out


def _read_pngs(folder: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted(folder.glob("*.png"))]


def _face_box(lms: list[np.ndarray], shape: tuple[int, ...], res: int, margin: int = 6) -> np.ndarray:
    """Boolean mask of the frame area the merge may touch: the face crops' bounding boxes."""
    region = np.zeros(shape[:2], bool)
    for lm in lms:
        mat = get_transform_mat(lm, res, "whole_face")
        pts = transform_points(np.float32([(0, 0), (res, 0), (res, res), (0, res)]), mat, invert=True)
        x0, y0 = np.floor(pts.min(0)).astype(int) - margin
        x1, y1 = np.ceil(pts.max(0)).astype(int) + margin
        region[max(y0, 0):y1, max(x0, 0):x1] = True
    return region


def test_frames_dir_changes_only_the_face_region(tmp_path, clip, ref_dfm, input_frames, landmarks) -> None:
    frames_dir = tmp_path / "merged"
    code = main(["--workspace", str(tmp_path / "ws"), "merge", str(clip), "--dfm", str(ref_dfm),
                 "--frames-dir", str(frames_dir), "--no-label", "--blur", "20", "--erode", "4"])
    assert code == 0
    merged = _read_pngs(frames_dir)
    assert [p.name for p in sorted(frames_dir.iterdir())][:2] == ["00001.png", "00002.png"]
    from PIL import Image

    text = Image.open(frames_dir / "00001.png").info  # provenance even with --no-label
    assert text.get("synthetic_media") == "true" and text.get("neuface_model")
    assert len(merged) == len(input_frames) == CLIP_FRAMES
    changed = 0
    for before, after, lms in zip(input_frames, merged, landmarks, strict=True):
        assert after.shape == before.shape
        region = _face_box(lms, before.shape, 64)
        assert np.array_equal(after[~region], before[~region])
        changed += int(np.abs(after.astype(int) - before.astype(int))[region].max() > 30) if lms else 0
    assert changed >= CLIP_FRAMES - 2  # the random-weight model visibly changes the faces it found


def test_identity_model_reproduces_the_face(tmp_path, clip, input_frames, landmarks) -> None:
    dfm = identity_dfm(tmp_path / "identity.dfm", RES_IDENTITY)
    frames_dir = tmp_path / "merged"
    code = main(["--workspace", str(tmp_path / "ws"), "merge", str(clip), "--dfm", str(dfm), "--frames-dir",
                 str(frames_dir), "--no-label", "--mask-mode", "full", "--color-transfer", "none"])
    assert code == 0
    for before, after, lms in zip(input_frames, _read_pngs(frames_dir), landmarks, strict=True):
        if not lms:
            continue
        inner = np.zeros(before.shape[:2], np.uint8)
        for lm in lms:
            cv2.fillConvexPoly(inner, cv2.convexHull(lm.astype(np.int32)), 1)
        diff = np.abs(after.astype(int) - before.astype(int))[inner.astype(bool)]
        # Two bicubic resamplings (frame -> 128 px crop -> frame) of a ~230 px face: blur, not change.
        assert diff.mean() < 4.0 and np.percentile(diff, 99) < 30, (diff.mean(), np.percentile(diff, 99))


def test_label_and_preview(tmp_path, clip, ref_dfm, input_frames) -> None:
    frames_dir = tmp_path / "merged"
    assert main(["--workspace", str(tmp_path / "ws"), "merge", str(clip), "--dfm", str(ref_dfm), "--frames-dir",
                 str(frames_dir), "--mode", "original"]) == 0
    for before, after in zip(input_frames, _read_pngs(frames_dir), strict=True):
        x0, y0, x1, y1 = label_rect(before.shape)
        outside = np.ones(before.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(after[outside], before[outside])  # mode original: only the label differs
        assert np.abs(after[y0:y1, x0:x1].astype(int) - before[y0:y1, x0:x1].astype(int)).mean() > 20

    preview = tmp_path / "p.png"
    assert main(["--workspace", str(tmp_path / "ws"), "merge", str(clip), "--dfm", str(ref_dfm), "--preview", "2",
                 "--preview-file", str(preview), "--no-label"]) == 0
    sheet = cv2.imread(str(preview))
    h, w = input_frames[0].shape[:2]
    assert sheet.shape[0] > 2 * h and sheet.shape[1] > 2 * w  # two rows of before | after
    first = sheet[8:8 + h, 8:8 + w]  # frame #5 of 16 (evenly spaced), unmerged
    assert np.abs(first.astype(int) - input_frames[4].astype(int)).mean() < 1.0


def test_refuses_to_overwrite_and_bad_models(tmp_path, clip, ref_dfm) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    ws = ["--workspace", str(tmp_path / "ws")]
    assert main([*ws, "merge", str(clip), "--dfm", str(ref_dfm), "--out", str(out)]) == 2
    assert out.read_bytes() == b"keep me"
    bad = tmp_path / "bad.dfm"
    bad.write_bytes(b"not onnx")
    assert main([*ws, "merge", str(clip), "--dfm", str(bad), "--out", str(tmp_path / "o.mp4")]) == 1
    assert main([*ws, "merge", str(clip), "--dfm", str(ref_dfm), "--model-dir", str(tmp_path),
                 "--out", str(tmp_path / "o.mp4")]) == 2
    assert main([*ws, "merge", str(clip), "--dfm", str(ref_dfm), "--mask-mode", "learned-prd*nose",
                 "--out", str(tmp_path / "o.mp4")]) == 2
    assert not (tmp_path / "o.mp4").exists()


def test_model_folder_runner_matches_its_dfm(tmp_path, model_fixtures, ref_dfm) -> None:
    from _saehd_ref import ref_dir, ref_model
    from neuface.merge.models import DfmRunner, TorchRunner, open_model
    from neuface.train.model_folder import ModelRef, save_model

    ref = ref_dir(model_fixtures)
    model = ref_model(ref)
    model.iter = 55
    save_model(ModelRef(tmp_path, "ref"), model)
    torch_runner = open_model(None, None, tmp_path, device="cpu", precision="fp32", batch_size=3)
    assert isinstance(torch_runner, TorchRunner)
    assert (torch_runner.name, torch_runner.iteration, torch_runner.face_type, torch_runner.resolution) == (
        "ref", 55, "full_face", 64)
    dfm_runner = DfmRunner(ref_dfm, "cpu", batch_size=3)
    assert (dfm_runner.face_type, dfm_runner.iteration) == ("whole_face", 1234)
    faces = np.load(ref / "in_warped_dst.npy")
    a, b = torch_runner.run(faces), dfm_runner.run(faces)  # 4 faces in batches of 3
    for key in ("face", "face_mask", "dst_mask"):
        assert getattr(a, key).shape == getattr(b, key).shape
        assert np.abs(getattr(a, key) - getattr(b, key)).max() < 1e-4, key
    assert np.abs(a.face - np.load(ref / "out_src_dst.npy")).max() < 1e-4  # DFL's own swapped face
    assert np.abs(a.face_mask - np.load(ref / "out_src_dstm.npy")[..., 0]).max() < 1e-4
