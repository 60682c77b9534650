"""XSeg training on the DFL fixture faces' polygon labels: loss falls, DFL-format files, resume, mask imports."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.errors import UsageError
from neuface.safe_pickle import safe_loads
from neuface.xseg.augment import augment
from neuface.xseg.framing import rasterize_polys
from neuface.xseg.train import load_samples, train_xseg
from neuface.xseg.weights import DATA_NAME, OPT_NAME, WEIGHTS_NAME


@pytest.fixture
def aligned(tmp_path: Path, dfl_fixtures: Path) -> Path:
    d = tmp_path / "aligned"
    shutil.copytree(dfl_fixtures / "aligned", d)
    return d


def test_polygon_labels_become_samples(dfl_fixtures):
    samples = load_samples([dfl_fixtures / "aligned"], "wf")
    assert sorted(s.name for s in samples) == ["t1_1.jpg", "t1_2.jpg"]  # the faces with seg_ie_polys
    for s in samples:
        assert s.image.shape == (256, 256, 3) and s.mask.shape == (256, 256)
        assert 0.1 < s.mask.mean() < 0.6
    # In full-face framing the same label covers more of the crop (DFL warps image and mask alike).
    full = load_samples([dfl_fixtures / "aligned"], "f")
    assert full[0].mask.mean() > samples[0].mask.mean()


def test_rasterize_excludes_win():
    include = np.float32([[10, 10], [90, 10], [90, 90], [10, 90]])
    exclude = np.float32([[40, 40], [60, 40], [60, 60], [40, 60]])
    m = rasterize_polys({"polys": [{"type": 0, "pts": exclude}, {"type": 1, "pts": include}]}, (100, 100))
    assert m[20, 20] == 1 and m[50, 50] == 0 and m[5, 5] == 0


def test_labels_from_mask_pngs(aligned, tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    square = np.zeros((512, 512), np.uint8)
    square[128:384, 128:384] = 255
    cv2.imwrite(str(labels / "t1_3.png"), square)
    samples = {s.name: s for s in load_samples([aligned], "wf", labels_from=labels)}
    assert set(samples) == {"t1_1.jpg", "t1_2.jpg", "t1_3.jpg"}
    assert samples["t1_3.jpg"].mask[64:192, 64:192].all() and samples["t1_3.jpg"].mask.sum() == 128 * 128


def test_augment_keeps_mask_binary_and_aligned(dfl_fixtures):
    s = load_samples([dfl_fixtures / "aligned"], "wf")[0]
    rng = np.random.default_rng(0)
    img, mask = augment(s.image, s.mask.astype(np.float32), rng, lambda: s.image)
    assert img.shape == (256, 256, 3) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert abs(mask.mean() - s.mask.mean()) < 0.1  # ±10° / ±5 % changes the area only a little


def test_training_overfits_saves_dfl_files_and_resumes(aligned, tmp_path):
    model = tmp_path / "model"
    r = train_xseg(model, [aligned], iterations=3, batch_size=2, augment=False, device="cpu",
                   precision="bf16", seed=3, save_every_min=0)
    assert r.iteration == 3 and r.samples == 2 and len(r.losses) == 3
    assert r.losses[-1] < r.losses[0] * 0.97, r.losses  # overfitting two faces: the loss falls

    weights = safe_loads((model / WEIGHTS_NAME).read_bytes())
    assert len(weights) == 222 and weights["conv01/conv/weight:0"].shape == (3, 3, 3, 32)
    raw_opt = (model / OPT_NAME).read_bytes()
    assert b"numpy._core" not in raw_opt
    opt = safe_loads(raw_opt)
    assert int(opt["iters:0"]) == 3 and opt["iters:0"].dtype == np.int64
    assert opt["acc_XSeg/conv01/conv/weight_0:0"].shape == (3, 3, 3, 32)
    assert opt["acc_XSeg/up0/conv/weight_0:0"].shape == (3, 3, 32, 64)
    assert float(np.abs(opt["acc_XSeg/out_conv/bias_0:0"]).max()) > 0
    data = safe_loads((model / DATA_NAME).read_bytes())
    assert data["iter"] == 3 and data["options"]["face_type"] == "wf" and data["options"]["batch_size"] == 2
    assert [round(x[0], 6) for x in data["loss_history"]] == [round(x, 6) for x in r.losses]

    # Resume: continues from iteration 3 with the stored weights, up to target 4.
    r2 = train_xseg(model, [aligned], target_iter=4, batch_size=2, augment=True, device="cpu",
                    precision="bf16", seed=4, save_every_min=0)
    assert r2.iteration == 4 and len(r2.losses) == 1
    data = safe_loads((model / DATA_NAME).read_bytes())
    assert data["iter"] == 4 and len(data["loss_history"]) == 4
    assert int(safe_loads((model / OPT_NAME).read_bytes())["iters:0"]) == 4
    w2 = safe_loads((model / WEIGHTS_NAME).read_bytes())
    assert not np.array_equal(w2["out_conv/weight:0"], weights["out_conv/weight:0"])


def test_no_labels_is_a_clear_error(tmp_path, dfl_fixtures):
    d = tmp_path / "aligned"
    d.mkdir()
    shutil.copyfile(dfl_fixtures / "aligned" / "t1_3.jpg", d / "t1_3.jpg")
    with pytest.raises(UsageError, match="no labelled faces.*--labels-from"):
        train_xseg(tmp_path / "model", [d], iterations=1, device="cpu")
    assert not (tmp_path / "model" / WEIGHTS_NAME).exists()
