"""DFL model folders: reading DFL's files (restricted, strict), writing DFL's format, summary layout,
atomic saves, backups and the find/list/create API."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from _saehd_ref import nchw, ref_dir
from neuface.dfl.safe_pickle import pickle_protocol, safe_loads
from neuface.dfl.weights import read_weight_file
from neuface.errors import ModelFormatError, UsageError
from neuface.train.model import build_model
from neuface.train.model_folder import (
    ModelRef,
    backup_model,
    create_model,
    find_model,
    list_models,
    load_model,
    model_summary,
    read_data_dat,
    save_model,
    xseg_ref,
)
from neuface.train.options import SAEHDOptions
from neuface.train.step import SAEHDBatch, SAEHDTrainer
from neuface.training.summary import DeviceRow

DFL_OPTION_ORDER = [
    "resolution", "face_type", "models_opt_on_gpu", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims",
    "masked_training", "eyes_mouth_prio", "uniform_yaw", "blur_out_mask", "adabelief", "lr_dropout", "random_warp",
    "random_hsv_power", "true_face_power", "face_style_power", "bg_style_power", "ct_mode", "clipgrad", "pretrain",
    "autobackup_hour", "write_preview_history", "target_iter", "random_src_flip", "random_dst_flip", "batch_size",
    "gan_power", "gan_patch_size", "gan_dims"]
TINY = dict(resolution=64, archi="liae-ud", ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=16)


def _dfl_style_folder(model_fixtures, tmp_path, copy_fixture):
    """A DFL model folder from the reference weights plus a data.dat pickled the way DFL pickles it."""
    ref = ref_dir(model_fixtures)
    folder = tmp_path / "model"
    for part in ("encoder", "inter_AB", "inter_B", "decoder"):
        copy_fixture(ref / "weights" / f"ref_SAEHD_{part}.npy", f"model/ref_SAEHD_{part}.npy")
    meta = json.loads((ref / "meta.json").read_text())
    options = {k: meta["options"][k] for k in DFL_OPTION_ORDER}
    for k in ("resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "gan_patch_size"):
        options[k] = np.int64(options[k])
    for k in ("random_hsv_power", "face_style_power", "bg_style_power", "gan_power"):
        options[k] = np.float64(options[k])
    data = {"iter": 1000, "options": options, "loss_history": [[0.5, 0.4]] * 3,
            "sample_for_preview": None, "choosed_gpu_indexes": None}
    (folder / "ref_SAEHD_data.dat").write_bytes(pickle.dumps(data, protocol=3))
    return ref, folder


def test_load_dfl_folder_and_forward(model_fixtures, tmp_path, copy_fixture):
    ref, folder = _dfl_style_folder(model_fixtures, tmp_path, copy_fixture)
    model = load_model(find_model(folder), training=True)  # optimizer file absent: fresh, like DFL
    assert model.iter == 1000 and model.options.archi == "liae-ud" and model.options.resolution == 64
    assert model.loss_history == [[0.5, 0.4]] * 3
    with torch.no_grad():
        img, mask, dst_mask = model.net.merge(nchw(ref, "in_warped_dst"))
    assert (img - nchw(ref, "out_src_dst")).abs().max() < 1e-4
    assert (dst_mask - nchw(ref, "out_dst_dstm")).abs().max() < 1e-4


def test_save_writes_dfl_format_and_round_trips(model_fixtures, tmp_path, copy_fixture):
    ref, folder = _dfl_style_folder(model_fixtures, tmp_path, copy_fixture)
    model_ref = find_model(folder, "ref")
    model = load_model(model_ref)
    model.extra = {"seed": 7, "consent": "both people agreed", "faceset_fingerprints": {"src": "ab", "dst": "cd"}}
    written = save_model(model_ref, model)
    names = sorted(p.name for p in written)
    assert names == sorted(["ref_SAEHD_encoder.npy", "ref_SAEHD_inter_AB.npy", "ref_SAEHD_inter_B.npy",
                            "ref_SAEHD_decoder.npy", "ref_SAEHD_src_dst_opt.npy", "ref_SAEHD_data.dat",
                            "ref_SAEHD_summary.txt"])
    for p in written:
        if p.suffix in (".npy", ".dat"):
            blob = p.read_bytes()
            assert pickle_protocol(blob) == 4 and b"numpy._core" not in blob, p.name
    for part in ("encoder", "decoder"):
        ours = read_weight_file(folder / f"ref_SAEHD_{part}.npy")
        theirs = read_weight_file(ref / "weights" / f"ref_SAEHD_{part}.npy")
        assert list(ours) == list(theirs)
        assert all(ours[k].dtype == np.float32 and np.array_equal(ours[k], theirs[k]) for k in theirs)
    opt_keys = list(read_weight_file(folder / "ref_SAEHD_src_dst_opt.npy"))
    assert opt_keys[0] == "iters:0" and opt_keys[1] == "ms_encoder/down1/downs_0/conv1/weight_0:0"
    data = read_data_dat(folder / "ref_SAEHD_data.dat")
    assert list(data)[:5] == ["iter", "options", "loss_history", "sample_for_preview", "choosed_gpu_indexes"]
    assert list(data["options"]) == DFL_OPTION_ORDER
    opts = data["options"]
    assert type(opts["resolution"]) is np.int64 and type(opts["gan_patch_size"]) is np.int64
    assert type(opts["face_style_power"]) is np.float64 and type(opts["true_face_power"]) is float  # liae
    assert type(opts["batch_size"]) is int and type(opts["masked_training"]) is bool
    assert data["neuface"]["consent"] == "both people agreed"
    again = load_model(model_ref)
    assert again.extra == model.extra and again.iter == 1000 and again.options == model.options
    for a, b in zip(model.net.parameters(), again.net.parameters(), strict=True):
        assert torch.equal(a, b)


def test_trained_model_round_trips_with_optimizer_state(tmp_path):
    ref, model = create_model(tmp_path / "model", "my_face", SAEHDOptions(**TINY))
    assert ref.name == "my face"  # DFL's naming rule
    torch.manual_seed(0)
    batch = SAEHDBatch(*[torch.rand(2, c, 64, 64) for c in (3, 3, 1, 1, 3, 3, 1, 1)])
    model.src_dst_opt.fused = False
    SAEHDTrainer(model).train_step(batch)
    save_model(ref, model)
    again = load_model(find_model(tmp_path / "model"))
    assert again.iter == 1 and again.src_dst_opt.iters == 1 and len(again.loss_history) == 1
    for a, b in zip(model.src_dst_opt.state["vs"], again.src_dst_opt.state["vs"], strict=True):
        assert torch.equal(a, b)
    assert [r.name for r in list_models(tmp_path / "model")] == ["my face"]
    with pytest.raises(UsageError, match="already exists"):
        create_model(tmp_path / "model", "my face", SAEHDOptions(**TINY))


def test_gan_and_true_face_files(tmp_path):
    opts = SAEHDOptions(**{**TINY, "archi": "df-ud", "gan_power": 0.1, "true_face_power": 0.01})
    ref, model = create_model(tmp_path, "g", opts)
    save_model(ref, model)
    gan_opt = list(read_weight_file(ref.weights_file("GAN_opt")))
    assert gan_opt[1].startswith("ms_D_src/") and ref.weights_file("GAN").is_file()
    assert list(read_weight_file(ref.weights_file("D_code_opt")))[1].startswith("ms_dis/convs_0/")
    data = read_data_dat(ref.data_file)
    assert type(data["options"]["true_face_power"]) is np.float64
    assert type(data["options"]["gan_dims"]) is np.int64
    again = load_model(ref)
    assert again.gan is not None and again.code_discriminator is not None
    assert torch.equal(next(again.gan.parameters()), next(model.gan.parameters()))


def test_crafted_data_dat_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "evil_SAEHD_data.dat").write_bytes(pickle.dumps({"iter": 5, "options": Exploit()}))
    with pytest.raises(ModelFormatError, match="evil_SAEHD_data.dat.*forbidden pickle global"):
        load_model(ModelRef(folder, "evil"))
    assert not marker.exists()


def test_weight_key_mismatch_names_the_key(model_fixtures, tmp_path, copy_fixture):
    ref, folder = _dfl_style_folder(model_fixtures, tmp_path, copy_fixture)
    path = folder / "ref_SAEHD_decoder.npy"
    d = read_weight_file(path)
    d["res0/conv3/weight:0"] = d.pop("res0/conv2/weight:0")
    path.write_bytes(pickle.dumps(d, protocol=4))
    with pytest.raises(ModelFormatError, match=r"ref_SAEHD_decoder.npy.*'res0/conv2/weight:0'.*'res0/conv3/weight:0'"):
        load_model(ModelRef(folder, "ref"))


def test_failed_save_leaves_previous_files_intact(tmp_path):
    ref, model = create_model(tmp_path, "a", SAEHDOptions(**TINY))
    save_model(ref, model)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    model.iter = 99
    model.extra = {"bad": object()}
    with pytest.raises(UsageError, match="neuface.bad"):
        save_model(ref, model)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_summary_matches_dfl_layout(dfl_fixtures):
    want = (dfl_fixtures / "json" / "example_SAEHD_summary.txt").read_text()
    model = build_model(SAEHDOptions(**{**TINY, "resolution": 64}), device="meta")
    model.options = SAEHDOptions.default(face_type="wf", batch_size=8)
    model.iter = 12345
    got = model_summary(ModelRef(dfl_fixtures, "new"), model, [DeviceRow(0, "NVIDIA GeForce RTX 3090", 24.0)])
    assert got == want
    cpu = model_summary(ModelRef(dfl_fixtures, "new"), model)
    assert "==          Using device: CPU" in cpu and not cpu.endswith("\n")


def test_backup_rotation_keeps_24_newest_first(tmp_path):
    ref, model = create_model(tmp_path, "b", SAEHDOptions(**TINY))
    save_model(ref, model)
    for i in range(26):
        if i in (0, 25):
            model.iter = i
            save_model(ref, model)
        backup_model(ref)
    dirs = sorted(p.name for p in ref.autobackups_dir.iterdir())
    assert dirs == [f"{i:02d}" for i in range(1, 25)]
    newest = read_data_dat(ref.autobackups_dir / "01" / ref.data_file.name)
    older = read_data_dat(ref.autobackups_dir / "02" / ref.data_file.name)
    assert newest["iter"] == 25 and older["iter"] == 0
    assert {p.name for p in (ref.autobackups_dir / "01").iterdir()} == {p.name for p in ref.model_files()}


def test_find_model_errors_and_newest_default(tmp_path):
    with pytest.raises(UsageError, match="no SAEHD model"):
        find_model(tmp_path)
    for name in ("one", "two"):
        ref, model = create_model(tmp_path, name, SAEHDOptions(**TINY))
        save_model(ref, model)
    os.utime(tmp_path / "one_SAEHD_data.dat", (1, 1))
    assert find_model(tmp_path).name == "two"
    with pytest.raises(UsageError, match="found: two, one"):
        find_model(tmp_path, "three")


def test_options_from_older_dfl_fill_defaults():
    opts, ignored = SAEHDOptions.from_dfl({"resolution": np.int64(96), "archi": "df", "d_dims": np.int64(48),
                                           "use_fp16": False})
    assert ignored == ["use_fp16"] and opts.resolution == 96 and opts.d_mask_dims == 16
    assert opts.gan_patch_size == 12 and opts.to_dfl()["archi"] == "df"


def test_safe_loader_reads_what_dfl_would(tmp_path):
    ref, model = create_model(tmp_path, "c", SAEHDOptions(**TINY))
    save_model(ref, model)
    data = safe_loads(ref.data_file.read_bytes())
    assert data["iter"] == 0 and data["options"]["archi"] == "liae-ud"


def test_inference_load_allocates_no_optimizer_state_and_xseg_names(tmp_path):
    ref, model = create_model(tmp_path, "d", SAEHDOptions(**TINY))
    save_model(ref, model)
    loaded = load_model(ref, training=False)
    assert loaded.src_dst_opt._state is None  # no 2x-parameter zeros for export/merge
    x = xseg_ref(tmp_path)
    assert (x.weights_file("256").name, x.data_file.name, x.summary_file.name) == (
        "XSeg_256.npy", "XSeg_data.dat", "XSeg_summary.txt")


def test_learning_rate_is_stored_as_the_optimizer_runs_it(tmp_path):
    """A model made at 1e-4 resumes at 1e-4; set back to DFL's 5e-5 it stays there after the next save."""
    ref, model = create_model(tmp_path, "lr", SAEHDOptions(**TINY), lr=1e-4)
    save_model(ref, model)
    again = load_model(ref)
    assert again.lr == 1e-4
    for _, opt in again.optimizer_parts():
        opt.lr = 5e-5
    save_model(ref, again)
    assert "lr" not in load_model(ref).extra and load_model(ref).lr == 5e-5
