"""XSeg training on the DFL fixture faces' polygon labels: loss falls, DFL-format files, resume, mask imports."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.dfl.safe_pickle import safe_loads
from neuface.errors import UsageError
from neuface.xseg.augment import augment
from neuface.xseg.framing import rasterize_polys
from neuface.xseg.model_files import DATA_NAME, OPT_NAME, WEIGHTS_NAME
from neuface.xseg.samples import load_samples
from neuface.xseg.train import train_xseg


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


def test_training_overfits_saves_dfl_files_and_resumes_exactly(aligned, tmp_path):
    model = tmp_path / "model"
    r = train_xseg(model, [aligned], iterations=3, batch_size=2, augment=False, device="cpu",
                   precision="fp32", seed=3, save_every_min=0)
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
    summary = (model / "XSeg_summary.txt").read_text()
    assert "Model name: XSeg" in summary and "Current iteration: 3" in summary and "face_type: wf" in summary
    preview = cv2.imread(str(model / "XSeg_history" / "preview.png"))
    assert preview is not None and preview.shape[1] == 4 * 256 and preview.shape[0] > 2 * 256

    # Stop after 2, resume (no seed: the stored RNG streams continue) to 3: the same weights as 3 in one go.
    split = tmp_path / "split"
    train_xseg(split, [aligned], iterations=2, batch_size=2, augment=False, device="cpu", precision="fp32",
               seed=3, save_every_min=0)
    r2 = train_xseg(split, [aligned], target_iter=3, batch_size=2, augment=False, device="cpu", precision="fp32",
                    save_every_min=0)
    assert r2.iteration == 3 and len(r2.losses) == 1
    data = safe_loads((split / DATA_NAME).read_bytes())
    assert data["iter"] == 3 and len(data["loss_history"]) == 3
    assert int(safe_loads((split / OPT_NAME).read_bytes())["iters:0"]) == 3
    resumed = safe_loads((split / WEIGHTS_NAME).read_bytes())
    assert r2.losses[0] == pytest.approx(r.losses[2], rel=1e-5)
    for k, v in weights.items():
        np.testing.assert_allclose(resumed[k], v, rtol=0, atol=1e-6, err_msg=k)


def test_ctrl_c_saves_at_that_iteration_and_the_next_run_resumes_there(aligned, tmp_path, capsys):
    """The shared loop's stop flag, as for SAEHD: SIGINT lets the step in flight finish, saves (weights, optimizer,
    data.dat with the RNG streams, summary) and returns; TensorBoard scalars are written exactly when SAEHD's are
    (the optional tensorboard package installed); the next run continues from the saved iteration."""
    try:
        import tensorboard  # noqa: F401
        have_tb = True
    except ImportError:
        have_tb = False
    model = tmp_path / "model"

    def ctrl_c(iteration: int, _loss: float) -> None:
        if iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)

    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    r = train_xseg(model, [aligned], iterations=4, batch_size=1, augment=False, device="cpu", precision="fp32",
                   seed=5, save_every_min=0, preview_every_min=0, on_iteration=ctrl_c)
    assert r.iteration == 2 and len(r.losses) == 2 and model / DATA_NAME in r.saved
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert "stopped at iteration 2 (SIGINT); model saved" in capsys.readouterr().err
    data = safe_loads((model / DATA_NAME).read_bytes())
    assert data["iter"] == 2 and len(data["loss_history"]) == 2 and {"rng", "batches"} <= set(data["neuface"])
    assert int(safe_loads((model / OPT_NAME).read_bytes())["iters:0"]) == 2
    assert "Current iteration: 2" in (model / "XSeg_summary.txt").read_text()
    events = sorted((model / "XSeg_history" / "tensorboard").glob("events.out.tfevents.*"))
    assert bool(events) == have_tb
    if have_tb:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(str(events[0]))
        acc.Reload()
        assert [e.step for e in acc.Scalars("loss/xseg")] == [1, 2]

    r2 = train_xseg(model, [aligned], target_iter=3, batch_size=1, augment=False, device="cpu", precision="fp32",
                    save_every_min=0, preview_every_min=0)
    assert "resuming XSeg model" in capsys.readouterr().err
    assert r2.iteration == 3 and len(r2.losses) == 1
    resumed = safe_loads((model / DATA_NAME).read_bytes())
    assert resumed["iter"] == 3 and resumed["loss_history"][:2] == data["loss_history"]
    assert int(safe_loads((model / OPT_NAME).read_bytes())["iters:0"]) == 3


def test_fp16_loss_scale_skips_overflow_and_grows_back(dfl_fixtures):
    """The runtime's GradScaler drives our RMSprop: an overflow skips the step and halves the scale; clean
    steps grow it back (CPU GradScaler, same code path as CUDA fp16)."""
    import torch

    from neuface import runtime
    from neuface.xseg.model_files import XSegRMSprop as DFLRMSprop
    from neuface.xseg.net import XSeg
    from neuface.xseg.train import train_step

    torch.manual_seed(0)
    net = XSeg().train()
    opt = DFLRMSprop(net)
    s = load_samples([dfl_fixtures / "aligned"], "wf")[0]
    images, masks = s.image[None].astype(np.float32) / 255, s.mask[None, ..., None].astype(np.float32)
    dev = torch.device("cpu")
    scaler = torch.amp.GradScaler("cpu", init_scale=3e38, growth_interval=1)  # the first backward overflows
    before = net.out_conv.weight.detach().clone()
    train_step(net, opt, images, masks, dev, runtime.Precision("fp32"), scaler)
    assert opt.iterations == 0 and torch.equal(net.out_conv.weight, before)  # skipped
    assert scaler.get_scale() == pytest.approx(1.5e38)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1)
    train_step(net, opt, images, masks, dev, runtime.Precision("fp32"), scaler)
    assert opt.iterations == 1 and not torch.equal(net.out_conv.weight, before)
    assert scaler.get_scale() == 2048.0  # grew back after a clean step
    assert torch.isfinite(net.out_conv.weight).all()


def test_cli_pretrains_without_labels_then_trains_on_imported_masks(tmp_path, dfl_fixtures, capsys):
    from neuface.cli import main

    ws = tmp_path / "ws"
    d = ws / "data_src" / "aligned"
    d.mkdir(parents=True)
    for n in ("Tom_Hanks_54745_0.jpg", "t1_3.jpg"):  # faces with no polygons and no stored mask
        shutil.copyfile(dfl_fixtures / "aligned" / n, d / n)
    base = ["-w", str(ws), "--device", "cpu", "--precision", "fp32", "-q", "train", "--kind", "xseg",
            "--batch-size", "2", "--seed", "1"]
    assert main([*base, "--target-iter", "1"]) != 0
    assert "no labelled faces" in capsys.readouterr().err
    assert main([*base, "--labels-from", str(tmp_path / "none"), "--target-iter", "1"]) != 0
    assert "--labels-from" in capsys.readouterr().err and not (ws / "model" / DATA_NAME).exists()

    assert main([*base, "--pretrain", "--target-iter", "1"]) == 0
    model = ws / "model"
    data = safe_loads((model / DATA_NAME).read_bytes())
    assert data["iter"] == 1 and data["options"]["pretrain"] is True
    assert "pretrain: True" in (model / "XSeg_summary.txt").read_text()
    assert cv2.imread(str(model / "XSeg_history" / "preview.png")).shape[1] == 3 * 256

    labels = tmp_path / "labels"
    labels.mkdir()
    oval = np.zeros((256, 256), np.uint8)
    cv2.ellipse(oval, (128, 128), (70, 95), 0, 0, 360, 255, -1)
    for n in ("Tom_Hanks_54745_0.png", "t1_3.png"):
        cv2.imwrite(str(labels / n), oval)
    faces_before = {n: (d / n).read_bytes() for n in ("Tom_Hanks_54745_0.jpg", "t1_3.jpg")}
    assert main([*base, "--no-pretrain", "--labels-from", str(labels), "--target-iter", "2"]) == 0
    data = safe_loads((model / DATA_NAME).read_bytes())
    assert data["iter"] == 2 and data["options"]["pretrain"] is False and len(data["loss_history"]) == 2
    assert data["loss_history"][1][0] < 1.0  # a mask loss (cross-entropy), not the pretraining loss
    assert {n: (d / n).read_bytes() for n in faces_before} == faces_before  # labels are not written into faces


def test_no_labels_is_a_clear_error(tmp_path, dfl_fixtures):
    d = tmp_path / "aligned"
    d.mkdir()
    shutil.copyfile(dfl_fixtures / "aligned" / "t1_3.jpg", d / "t1_3.jpg")
    with pytest.raises(UsageError, match="no labelled faces.*--labels-from"):
        train_xseg(tmp_path / "model", [d], iterations=1, device="cpu")
    assert not (tmp_path / "model" / WEIGHTS_NAME).exists()
