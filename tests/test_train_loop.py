"""`neuface train` end to end on CPU with real faces and tiny dims: files, resume, target, signals, pretrained."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.cli import main
from neuface.dfl.safe_pickle import dumps_compat
from neuface.export.check import check_dfm
from neuface.train.model_folder import find_model, load_model, read_data_dat
from test_train_helpers import TINY, make_workspace


def _train(ws: Path, *args: str) -> int:
    return main(["-w", str(ws), "--device", "cpu", "--precision", "fp32", "-q", "train", *args])


def _data(ws: Path, name: str = "new") -> dict:
    return read_data_dat(ws / "model" / f"{name}_SAEHD_data.dat")


@pytest.fixture
def ws(dfl_fixtures: Path, tmp_path: Path) -> Path:
    return make_workspace(dfl_fixtures, tmp_path / "ws")


def test_30_iterations_write_every_file_then_resume_to_an_exact_target(ws: Path):
    assert _train(ws, *TINY, "--seed", "3", "--target-iter", "30", "--backup-every", "30",
                  "--consent", "both people agreed", "--write-preview-history") == 0
    model_dir = ws / "model"
    data = _data(ws)
    assert data["iter"] == 30 and len(data["loss_history"]) == 30
    assert list(data["options"])[:4] == ["resolution", "face_type", "models_opt_on_gpu", "archi"]
    assert data["options"]["face_type"] == "wf" and data["neuface"]["consent"] == "both people agreed"
    model = load_model(find_model(model_dir), device="cpu")  # weights + optimizer load strictly
    assert model.iter == 30 and model.src_dst_opt.iters == 30
    for part in ("encoder", "inter_AB", "inter_B", "decoder", "src_dst_opt"):
        assert (model_dir / f"new_SAEHD_{part}.npy").is_file()
    assert "Current iteration: 30" in (model_dir / "new_SAEHD_summary.txt").read_text()
    history = model_dir / "new_SAEHD_history"
    for png in ("preview.png", "loss.png", "0000030.png"):
        img = cv2.imread(str(history / png))
        assert img is not None and img.shape[0] > 64, png
    from PIL import Image

    marks = Image.open(history / "0000030.png").info  # shows swapped faces: marked as synthetic media
    assert marks["synthetic_media"] == "true" and marks["neuface_iteration"] == "30"
    backup = model_dir / "new_SAEHD_autobackups" / "01"
    assert "Current iteration: 30" in (backup / "new_SAEHD_summary.txt").read_text()
    dfm = backup / "new_SAEHD_model.dfm"
    report = check_dfm(dfm)
    assert report.ok, [f.message for f in report.failures]
    assert report.metadata.get("consent") == "both people agreed"
    assert report.metadata.get("iteration") == "30"

    # Resume: the count, history and optimizer continue; a new target stops exactly there. Without
    # write_preview_history only preview.png (and loss.png) are rewritten: no new history image.
    preview_before = (history / "preview.png").read_bytes()
    assert _train(ws, "--target-iter", "37", "--no-write-preview-history") == 0
    data = _data(ws)
    assert data["iter"] == 37 and len(data["loss_history"]) == 37
    assert data["options"]["write_preview_history"] is False
    assert load_model(find_model(model_dir), device="cpu").src_dst_opt.iters == 37
    kept = sorted(p.name for p in history.glob("0*.png"))
    assert kept[0] == "0000001.png" and kept[-1] == "0000030.png"  # nothing after the switch
    assert (history / "preview.png").read_bytes() != preview_before
    # At the target already: nothing to do, nothing changes.
    assert _train(ws, "--target-iter", "37") == 0 and _data(ws)["iter"] == 37


def test_architecture_of_an_existing_model_cannot_change(ws: Path, capsys):
    assert _train(ws, *TINY, "--target-iter", "1") == 0
    code = main(["-w", str(ws), "--device", "cpu", "train", "--resolution", "128", "--target-iter", "2"])
    assert code != 0
    assert "resolution" in capsys.readouterr().err
    assert _data(ws)["iter"] == 1


def test_missing_faceset_and_too_small_face_type_are_clear_errors(ws: Path, dfl_fixtures: Path, capsys):
    import shutil

    shutil.rmtree(ws / "data_dst" / "aligned")
    assert _train(ws, *TINY, "--target-iter", "1") != 0
    assert "data_dst/aligned" in capsys.readouterr().err
    (ws / "data_dst" / "aligned").mkdir()
    shutil.copyfile(dfl_fixtures / "aligned" / "Tom_Hanks_54745_0.jpg", ws / "data_dst" / "aligned" / "h.jpg")
    assert _train(ws, *TINY, "--target-iter", "1") != 0  # a full_face face for a whole_face model
    err = capsys.readouterr().err
    assert "h.jpg" in err and "full_face" in err


def test_overfitting_four_faces_drives_the_loss_down(ws: Path):
    # 50 iterations at a higher lr overfit as clearly as 150 at 3e-4 did (both sides end near half their start).
    assert _train(ws, *TINY, "--seed", "1", "--no-random-warp", "--no-random-dst-flip", "--lr", "5e-4",
                  "--target-iter", "50", "--workers", "0") == 0
    losses = np.asarray(_data(ws)["loss_history"])
    first, last = losses[:10].mean(0), losses[-10:].mean(0)
    assert (last < 0.6 * first).all(), (first, last)


def test_the_same_seed_reproduces_a_run_from_scratch(ws: Path, dfl_fixtures: Path, tmp_path: Path):
    other = make_workspace(dfl_fixtures, tmp_path / "other")
    for w in (ws, other):
        assert _train(w, *TINY, "--seed", "7", "--target-iter", "3") == 0

    def digests(w: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((w / "model").glob("*.npy"))}

    first = digests(ws)
    assert len(first) == 5 and digests(other) == first  # initial weights, batches, updates: all from the seed
    assert _data(ws)["loss_history"] == _data(other)["loss_history"]


def test_fp16_resumes_at_the_stored_loss_scale(ws: Path):
    def fp16(*args: str) -> int:
        return main(["-w", str(ws), "--device", "cpu", "--precision", "fp16", "-q", "train", *args])

    assert fp16(*TINY, "--seed", "2", "--target-iter", "3", "--no-random-warp") == 0
    data_file = ws / "model" / "new_SAEHD_data.dat"
    data = _data(ws)
    scale = data["neuface"]["grad_scale"]
    assert 0 < scale <= 2.0**16 and np.log2(scale) == int(np.log2(scale))  # GradScaler only halves or doubles
    data["neuface"]["grad_scale"] = 8.0  # as if an earlier session had backed off to 8
    data_file.write_bytes(dumps_compat(data))
    assert fp16("--target-iter", "4") == 0
    data = _data(ws)
    assert data["iter"] == 4 and data["neuface"]["grad_scale"] == 8.0  # resumed there (no overflow at 8)
    assert np.isfinite(data["loss_history"]).all()


def _spawn(ws: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "neuface", "-w", str(ws), "--device", "cpu", "--precision", "fp32", "-q",
           "train", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 150.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"trainer exited early: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the trainer")
        time.sleep(0.2)


def test_sigint_saves_and_kill_9_leaves_a_loadable_model(ws: Path):
    data_file = ws / "model" / "new_SAEHD_data.dat"
    # Saves every ~1 s so the kill -9 below lands while saves are happening.
    proc = _spawn(ws, *TINY, "--seed", "2", "--save-every-min", "0.015", "--workers", "0")
    _wait_for(data_file.is_file, proc)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()[-2000:]
    stopped = read_data_dat(data_file)["iter"]
    model = load_model(find_model(ws / "model"), device="cpu")
    assert model.iter == stopped >= 2 and len(model.loss_history) == stopped

    proc = _spawn(ws, "--save-every-min", "0.015", "--workers", "0")
    _wait_for(lambda: read_data_dat(data_file)["iter"] > stopped + 3, proc)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait(timeout=30)
    model = load_model(find_model(ws / "model"), device="cpu")
    assert model.iter > stopped and len(model.loss_history) == model.iter


def _dfl_pretrained_folder(model_fixtures: Path, model_dir: Path, name: str = "pretrained") -> dict[str, str]:
    """A DFL-format SAEHD folder from the fixture's DFL weights, and a data.dat as DFL writes it."""
    ref = model_fixtures / "saehd_liae_ud_64"
    options = json.loads((ref / "meta.json").read_text())["options"]
    for k in ("resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "gan_patch_size"):
        options[k] = np.int64(options[k])
    for k in ("random_hsv_power", "face_style_power", "bg_style_power", "gan_power"):
        options[k] = np.float64(options[k])
    model_dir.mkdir(parents=True)
    for part in ("encoder", "inter_AB", "inter_B", "decoder"):
        (model_dir / f"{name}_SAEHD_{part}.npy").write_bytes((ref / "weights" / f"ref_SAEHD_{part}.npy").read_bytes())
    data = {"iter": 500000, "options": options, "loss_history": [[0.5, 0.4]] * 3, "sample_for_preview": None,
            "choosed_gpu_indexes": None}
    (model_dir / f"{name}_SAEHD_data.dat").write_bytes(dumps_compat(data, protocol=4))
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model_dir.iterdir()}


def test_dfl_pretrained_model_is_continued_and_reset_iter_starts_a_new_face(ws: Path, model_fixtures: Path):
    before = _dfl_pretrained_folder(model_fixtures, ws / "model")
    assert _train(ws, "--target-iter", "500002", "--workers", "0") == 0  # continue DFL's model
    assert _data(ws, "pretrained")["iter"] == 500002
    assert _data(ws, "pretrained")["options"]["face_type"] == "f"  # a stored option, not our wf default

    original = {n: h for n, h in before.items()}
    snapshot = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ws / "model").iterdir() if p.is_file()}
    assert _train(ws, "--name", "pretrained", "--reset-iter", "--target-iter", "2", "--workers", "0") == 0
    data = _data(ws, "pretrained reset")
    assert data["iter"] == 2 and len(data["loss_history"]) == 2
    assert data["neuface"]["reset_from"] == "pretrained_SAEHD@500002"
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ws / "model").iterdir()
             if p.is_file() and p.name.startswith("pretrained_SAEHD")}
    assert after == {n: h for n, h in snapshot.items() if n.startswith("pretrained_SAEHD")}
    assert set(original) <= set(after)


def test_tensorboard_scalars_are_optional_and_only_rank_zero_talks(tmp_path: Path):
    from neuface import console
    from neuface.train.ddp import DistInfo, quiet_other_ranks
    from neuface.training.scalars import Scalars

    try:
        import tensorboard  # noqa: F401
        have_tb = True
    except ImportError:
        have_tb = False
    tb = Scalars(tmp_path)
    tb.add(1, (0.5, 0.4))  # never raises, with or without tensorboard
    tb.close()
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert bool(events) == have_tb
    assert Scalars(tmp_path / "other", enabled=False).writer is None  # ranks > 0 write nothing

    level = console.verbosity()
    try:
        console.set_verbosity(0)
        quiet_other_ranks(DistInfo(rank=0, world=2))
        assert not console.make_progress().disable
        quiet_other_ranks(DistInfo(rank=1, world=2))
        assert console.make_progress().disable and console.verbosity() < 0
    finally:
        console.set_verbosity(level)
