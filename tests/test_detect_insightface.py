"""insightface backend: hand-computed pre/post-processing, plus the ONNX plumbing on tiny generated models.

The real buffalo_l pack cannot be downloaded on test machines; tests needing it skip with that reason.
The generated models below stand in for the pack's three ONNX files with the same input/output layout
(constant outputs), so the backend's onnxruntime sessions, batching and coordinate mapping run for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from neuface.detect.backends import create_backend, resolve_backend
from neuface.detect.backends.insightface_backend import (
    ARCFACE_TEMPLATE,
    _mean_std_from_graph,
    anchor_centers,
    arcface_matrix,
    decode_scrfd,
    distance2bbox,
    distance2kps,
    five_points_from_68,
    landmark_crop_matrix,
    landmarks_from_prediction,
    letterbox,
    nms,
    scrfd_layout,
    to_blob,
)
from neuface.detect.weights import find_buffalo, require_buffalo
from neuface.errors import UsageError


def test_letterbox_wide_image():
    img = np.full((100, 200, 3), 7, np.uint8)
    out, scale = letterbox(img, 640)
    assert out.shape == (640, 640, 3) and scale == pytest.approx(3.2)
    assert (out[:320, :640] == 7).all() and (out[320:] == 0).all()


def test_letterbox_tall_image():
    out, scale = letterbox(np.full((400, 100, 3), 9, np.uint8), 640)
    assert scale == pytest.approx(1.6)
    assert (out[:, :160] == 9).all() and (out[:, 160:] == 0).all()


def test_to_blob_is_rgb_nchw_normalised():
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 0] = 255  # blue
    blob = to_blob([img], 127.5, 128.0)
    assert blob.shape == (1, 3, 2, 2) and blob.dtype == np.float32
    assert blob[0, 2, 0, 0] == pytest.approx((255 - 127.5) / 128)  # blue ends up in the last channel
    assert blob[0, 0, 0, 0] == pytest.approx(-127.5 / 128)


def test_anchor_centers_row_major_repeated():
    c = anchor_centers(2, 3, 8, 2)
    assert c.shape == (12, 2)
    np.testing.assert_array_equal(c[:6], [[0, 0], [0, 0], [8, 0], [8, 0], [16, 0], [16, 0]])
    np.testing.assert_array_equal(c[6], [0, 8])
    np.testing.assert_array_equal(anchor_centers(1, 2, 32, 1), [[0, 0], [32, 0]])


def test_distance_decoding():
    np.testing.assert_array_equal(distance2bbox(np.float32([[10, 20]]), np.float32([[1, 2, 3, 4]])),
                                  [[9, 18, 13, 24]])
    np.testing.assert_array_equal(distance2kps(np.float32([[10, 20]]), np.float32([[1, 2, -1, -2]])),
                                  [[[11, 22], [9, 18]]])


def test_nms_plus_one_areas():
    dets = np.float32([[0, 0, 9, 9, 0.9], [1, 1, 10, 10, 0.8], [20, 20, 29, 29, 0.7], [5, 0, 14, 9, 0.6]])
    # IoU(0,1) = 81/119 = 0.68 -> suppressed; IoU(0,3) = 50/150 = 0.33 -> kept at threshold 0.4
    assert nms(dets, 0.4) == [0, 2, 3]
    assert nms(dets, 0.3) == [0, 2]


def _scrfd_outputs(input_size: int) -> list[np.ndarray]:
    """Zero SCRFD outputs (9-output layout: 3 strides, 2 anchors, keypoints) for a square input."""
    scores, boxes, kps = [], [], []
    for stride in (8, 16, 32):
        n = (input_size // stride) ** 2 * 2
        scores.append(np.zeros((n, 1), np.float32))
        boxes.append(np.zeros((n, 4), np.float32))
        kps.append(np.zeros((n, 10), np.float32))
    return scores + boxes + kps


def test_decode_scrfd_hand_computed():
    outs = _scrfd_outputs(32)
    # stride 8, cell (y=1, x=2), anchor 1 -> index (1*4+2)*2+1 = 13, centre (16, 8)
    outs[0][13] = 0.9
    outs[3][13] = [1, 1, 1, 1]  # stride units -> box (8, 0, 24, 16)
    outs[6][13] = [0, 0, 1, 0, 0, 1, -1, 0, 0, -1]
    # stride 16, cell (0, 1), anchor 0 -> index 2, centre (16, 0): overlapping, lower score -> NMS removes it
    outs[1][2] = 0.7
    outs[4][2] = [0.5, 0, 0.5, 1]  # box (8, 0, 24, 16)
    # below threshold
    outs[2][1] = 0.3
    dets, kps = decode_scrfd(outs, 32, 0.5, det_scale=0.5)
    assert dets.shape == (1, 5)
    np.testing.assert_allclose(dets[0], [16, 0, 48, 32, 0.9], atol=1e-6)
    np.testing.assert_allclose(kps[0], [[32, 16], [48, 16], [32, 32], [16, 16], [32, 0]], atol=1e-6)
    dets, _ = decode_scrfd(outs, 32, 0.95)
    assert dets.shape == (0, 5)


def test_scrfd_layouts():
    assert scrfd_layout(9) == ((8, 16, 32), 2, True)
    assert scrfd_layout(15) == ((8, 16, 32, 64, 128), 1, True)
    with pytest.raises(ValueError):
        scrfd_layout(7)


def test_landmark_crop_and_mapping_back():
    mat = landmark_crop_matrix(np.array([0, 0, 100, 50]), 192)
    np.testing.assert_allclose(mat, [[1.28, 0, 32], [0, 1.28, 64]])
    pred = np.zeros((1103, 3), np.float32)  # 1k3d68 layout: 3309 values, the last 68 rows are the points
    pred[-68:, :2] = 0
    pred[-1, :2] = [1, -1]
    lm = landmarks_from_prediction(pred.reshape(-1), mat, 192)
    assert lm.shape == (68, 2) and lm.dtype == np.float64
    np.testing.assert_allclose(lm[0], [50, 25])  # crop centre -> box centre
    np.testing.assert_allclose(lm[-1], [125, -50])  # crop corner (192, 0) -> frame
    lm2 = landmarks_from_prediction(np.zeros(136, np.float32), mat, 192)  # 2D model layout
    np.testing.assert_allclose(lm2[5], [50, 25])


def test_arcface_alignment_of_template_points_is_identity():
    lm = np.zeros((68, 2))
    lm[36:42] = ARCFACE_TEMPLATE[0]
    lm[42:48] = ARCFACE_TEMPLATE[1]
    lm[30], lm[48], lm[54] = ARCFACE_TEMPLATE[2], ARCFACE_TEMPLATE[3], ARCFACE_TEMPLATE[4]
    five = five_points_from_68(lm)
    np.testing.assert_allclose(five, ARCFACE_TEMPLATE, atol=1e-5)
    np.testing.assert_allclose(arcface_matrix(five), [[1, 0, 0], [0, 1, 0]], atol=1e-4)
    np.testing.assert_allclose(arcface_matrix(five * 2), [[0.5, 0, 0], [0, 0.5, 0]], atol=1e-4)


def _save(model: onnx.ModelProto, path: Path) -> None:
    model.opset_import[0].version = 13
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _const(name: str, arr: np.ndarray):
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name + "_v", TensorProto.FLOAT, arr.shape, arr.astype(np.float32).ravel().tolist()))


def _batch_model(path: Path, input_name: str, size: int, row: np.ndarray, first_nodes: tuple[str, str]) -> None:
    """[N,3,size,size] -> [N,len(row)]: every row equals `row` (mean(x)*0 + row)."""
    k = len(row)
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=helper.make_tensor("s", TensorProto.INT64, [2], [-1, 1])),
        helper.make_node("ReduceMean", [input_name], ["m"], axes=[1, 2, 3], keepdims=1, name=first_nodes[0]),
        helper.make_node("Reshape", ["m", "shape"], ["m2"], name=first_nodes[1]),
        _const("zeros", np.zeros((1, k))),
        _const("row", row.reshape(1, k)),
        helper.make_node("MatMul", ["m2", "zeros"], ["z"]),
        helper.make_node("Add", ["z", "row"], ["out"]),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT,
                                                                         ["N", 3, size, size])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", k])])
    _save(helper.make_model(graph), path)


def _det_model(path: Path, outs: list[np.ndarray]) -> None:
    names = [f"o{i}" for i in range(len(outs))]
    nodes = [_const(f"c{i}", o) for i, o in enumerate(outs)]
    nodes += [helper.make_node("Identity", [f"c{i}"], [n]) for i, n in enumerate(names)]
    graph = helper.make_graph(nodes, "det", [helper.make_tensor_value_info("input.1", TensorProto.FLOAT,
                                                                           [1, 3, "H", "W"])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(o.shape))
                               for n, o in zip(names, outs, strict=True)])
    _save(helper.make_model(graph), path)


def _dfl_face(dfl_fixtures: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = json.loads((dfl_fixtures / "json" / "t1_0.jpg.json").read_text())["dfl_dict"]
    return (np.array(d["source_landmarks"]["value"]), np.array(d["source_rect"]["value"], np.float64),
            np.array(d["image_to_face_mat"]["value"]))


@pytest.fixture
def fake_pack(tmp_path: Path, dfl_fixtures: Path) -> Path:
    """ONNX files with buffalo_l's layout whose outputs put t1_0's face (and DFL's landmarks) in t1.jpg."""
    src_lm, rect, _ = _dfl_face(dfl_fixtures)
    frame = cv2.imread(str(dfl_fixtures / "frames" / "t1.jpg"))
    h, w = frame.shape[:2]
    det_scale = 640 / max(h, w)
    outs = _scrfd_outputs(640)
    box = rect * det_scale
    cx, cy = 8 * round((box[0] + box[2]) / 16), 8 * round((box[1] + box[3]) / 16)
    idx = (cy // 8 * 80 + cx // 8) * 2
    outs[0][idx] = 0.95
    outs[3][idx] = np.array([cx - box[0], cy - box[1], box[2] - cx, box[3] - cy]) / 8
    pack = tmp_path / "buffalo_l"
    pack.mkdir()
    _det_model(pack / "det_10g.onnx", outs)
    # What 1k3d68 would output for these landmarks inside the crop the backend makes from the box.
    mat = landmark_crop_matrix(rect, 192)
    crop_pts = src_lm @ mat[:, :2].T + mat[:, 2]
    pred = np.zeros((1103, 3))
    pred[-68:, :2] = crop_pts / 96 - 1
    _batch_model(pack / "1k3d68.onnx", "data", 192, pred.ravel(), ("bn_data", "Reshape_1"))
    emb = np.zeros(512)
    emb[:2] = [3, 4]
    _batch_model(pack / "w600k_r50.onnx", "input.1", 112, emb, ("ReduceMean_0", "Reshape_1"))
    return pack


def test_fake_pack_runs_through_onnxruntime(fake_pack, dfl_fixtures):
    src_lm, rect, mat = _dfl_face(dfl_fixtures)
    assert resolve_backend("auto", fake_pack) == "insightface"
    backend = create_backend("auto", models_dir=fake_pack, device="cpu")
    assert backend.name == "insightface" and not backend.prefers_batches
    assert _mean_std_from_graph(fake_pack / "1k3d68.onnx") == (0.0, 1.0)  # bn_data first, like the real one
    assert _mean_std_from_graph(fake_pack / "w600k_r50.onnx") == (127.5, 128.0)
    frame = cv2.imread(str(dfl_fixtures / "frames" / "t1.jpg"))
    faces = backend.detect_batch([frame, frame[:, ::-1].copy()])
    assert [len(f) for f in faces] == [1, 1]
    face = faces[0][0]
    np.testing.assert_allclose(face.rect, rect, atol=1.0)
    np.testing.assert_allclose(face.landmarks, src_lm, atol=2e-3)
    np.testing.assert_allclose(face.embedding[:2], [0.6, 0.8], atol=1e-6)  # L2-normalised
    from neuface.dfl.align import get_transform_mat

    np.testing.assert_allclose(get_transform_mat(face.landmarks, 512, "whole_face"), mat, atol=1e-3)


def test_mean_std_rule(tmp_path):
    _batch_model(tmp_path / "a.onnx", "x", 8, np.zeros(4), ("Sub_0", "Mul_1"))
    assert _mean_std_from_graph(tmp_path / "a.onnx") == (0.0, 1.0)


def test_missing_pack_error_names_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path / "home"))
    assert find_buffalo(tmp_path) is None
    assert resolve_backend("auto", tmp_path) != "insightface"  # the next backend in auto's order
    with pytest.raises(UsageError, match=str(tmp_path)):
        require_buffalo(tmp_path)
    with pytest.raises(UsageError, match="det_10g.onnx"):
        create_backend("insightface")
    with pytest.raises(UsageError, match="--backend"):
        resolve_backend("mtcnn")


def test_pack_found_in_insightface_home(tmp_path, monkeypatch):
    pack = tmp_path / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    for name in ("det_10g.onnx", "1k3d68.onnx"):
        (pack / name).write_bytes(b"")
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path))
    assert find_buffalo() == pack
    assert resolve_backend("auto") == "insightface"


@pytest.mark.skipif(find_buffalo() is None, reason="insightface buffalo_l pack not installed "
                    "(~/.insightface/models/buffalo_l); it cannot be downloaded on test machines")
def test_real_pack_finds_faces(dfl_fixtures):
    backend = create_backend("insightface")
    frame = cv2.imread(str(dfl_fixtures / "frames" / "t1.jpg"))
    faces = backend.detect(frame)
    assert len(faces) >= 5
    assert all(f.landmarks.shape == (68, 2) for f in faces)


def test_pipeline_with_insightface_backend(fake_pack, dfl_fixtures, tmp_path):
    """detect with the insightface backend (single process, ORT threads) writes DFL's crop of the face."""
    import shutil

    from neuface.detect.identity import IDENTITY_MODEL_KEY
    from neuface.detect.options import DetectConfig
    from neuface.detect.pipeline import run_detect
    from neuface.faceset import dfljpg
    from neuface.workspace import Side, Workspace

    ws = Workspace.at(tmp_path / "ws")
    ws.frames_dir(Side.src).mkdir(parents=True)
    shutil.copyfile(dfl_fixtures / "frames" / "t1.jpg", ws.frames_dir(Side.src) / "t1.jpg")
    result = run_detect(ws, Side.src, DetectConfig(backend="auto", models=fake_pack, device="cpu"))
    assert result.backend == "insightface" and result.faces == 1
    meta = dfljpg.read_meta(ws.aligned_dir(Side.src) / "t1_0.jpg")
    _, _, mat = _dfl_face(dfl_fixtures)
    np.testing.assert_allclose(meta.image_to_face_mat, mat, atol=1e-3)
    assert meta.extra[IDENTITY_MODEL_KEY] == "arcface_w600k_r50"
    ours = cv2.imread(str(ws.aligned_dir(Side.src) / "t1_0.jpg")).astype(np.int16)
    dfl = cv2.imread(str(dfl_fixtures / "aligned" / "t1_0.jpg")).astype(np.int16)
    assert np.abs(ours - dfl).mean() < 2.0
