"""The training data pipeline on real DFL faces: cache, masks, augmentation, seeding, loader, DDP slices."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from neuface.dfl.landmarks import get_image_hull_mask
from neuface.errors import FacesetFormatError, UsageError
from neuface.faceset import dfljpg
from neuface.train.data import (
    BatchMaker,
    SideAugment,
    build_cache,
    finish_batch,
    make_loader,
    yaw_buckets,
)
from neuface.train.samples import prepare_face
from neuface.train.warp import GpuWarper, apply_warp, gen_warp_params, sampling_grid
from test_train_helpers import copy_faces, write_mirrored_faces


@pytest.fixture(scope="module")
def faces_dir(dfl_fixtures: Path, tmp_path_factory) -> Path:
    return copy_faces(dfl_fixtures, tmp_path_factory.mktemp("faces") / "aligned")


@pytest.fixture(scope="module")
def cache(faces_dir: Path):
    return build_cache(faces_dir, 64, "wf", "src")


def test_cache_frames_faces_and_uses_the_stored_xseg_mask(faces_dir: Path, cache):
    assert cache.crops.shape == (4, 64, 64, 3) and cache.masks.shape == (4, 64, 64, 2)
    assert cache.names == ["t1_0.jpg", "t1_1.jpg", "t1_2.jpg", "t1_3.jpg"]
    assert np.abs(cache.yaws).max() < 0.5  # frontal faces
    # t1_0 carries an XSeg mask (a hull rendered at 256 and binarised): the cache holds it, not a new hull.
    meta = dfljpg.read_meta(faces_dir / "t1_0.jpg")
    stored = meta.get_xseg_mask()
    face = cache.masks[0, ..., 0].astype(np.float32) / 255
    import cv2

    expected = cv2.resize(cv2.resize(stored, (512, 512), interpolation=cv2.INTER_CUBIC), (64, 64),
                          interpolation=cv2.INTER_LINEAR)
    assert np.abs(face - np.clip(expected, 0, 1)).mean() < 0.02
    # Without a mask the hull is used; eyes/mouth mask is inside the face and peaks at 1.
    em = cache.masks[1, ..., 1].astype(np.float32) / 255
    assert em.max() == 1.0 and (em[cache.masks[1, ..., 0] == 0] == 0).all()


def test_full_face_model_crops_tighter_than_the_stored_whole_face(faces_dir: Path, cache):
    import cv2

    meta = dfljpg.read_meta(faces_dir / "t1_1.jpg")
    img = cv2.imread(str(faces_dir / "t1_1.jpg"))
    f = prepare_face(img, meta, 64, "full_face")
    wf_hull = get_image_hull_mask((64, 64), meta.landmarks * 64 / img.shape[0]).mean()
    assert f.masks[..., 0].mean() / 255 > 1.5 * wf_hull  # the face fills more of a tighter crop


def test_memmap_cache_equals_ram_cache(faces_dir: Path, cache):
    disk = build_cache(faces_dir, 64, "wf", "src", on_disk=True)
    assert disk.on_disk and isinstance(disk.crops, np.memmap)
    np.testing.assert_array_equal(np.asarray(disk.crops), cache.crops)
    np.testing.assert_array_equal(np.asarray(disk.masks), cache.masks)


def test_bad_facesets_are_named(tmp_path: Path, faces_dir: Path, dfl_fixtures: Path, capsys):
    with pytest.raises(UsageError, match="nothere"):
        build_cache(tmp_path / "nothere", 64, "wf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="empty"):
        build_cache(tmp_path / "empty", 64, "wf")
    small = copy_faces(dfl_fixtures, tmp_path / "small", ["Tom_Hanks_54745_0.jpg"])
    with pytest.raises(FacesetFormatError, match="Tom_Hanks_54745_0.jpg.*full_face"):
        build_cache(small, 64, "wf")
    assert len(build_cache(small, 64, "f")) == 1  # same face type is fine
    # A face whose pixels are unreadable is skipped and counted, the rest train.
    broken = tmp_path / "broken"
    shutil.copytree(faces_dir, broken)
    data = (broken / "t1_3.jpg").read_bytes()
    start = data.index(b"\xff\xda")  # keep headers + metadata, destroy the scan
    (broken / "t1_3.jpg").write_bytes(data[:start + 20] + b"\x00" * 64)
    got = build_cache(broken, 64, "wf")
    assert got.names == ["t1_0.jpg", "t1_1.jpg", "t1_2.jpg"]
    assert "skipped 1 unreadable" in capsys.readouterr().err


def test_gpu_batched_warp_matches_opencv(cache):
    """The one-grid_sample path (run here by torch on the CPU) equals DFL's remap + warpAffine + flip."""
    img = cache.crops[1]
    warper = GpuWarper(torch.device("cpu"))
    for seed in range(4):
        rng = np.random.default_rng(seed)
        p = gen_warp_params(64, rng, flip=True)
        p.flip = bool(seed % 2)
        for warp, tol in ((False, 2e-3), (True, 0.03)):
            cpu = apply_warp(img.astype(np.float32) / 255, p, warp=warp)
            grid = torch.from_numpy(sampling_grid(p, warp)[None])
            gpu = warper.images(torch.from_numpy(img[None]), grid)[0].permute(1, 2, 0).numpy()
            assert np.abs(cpu - gpu)[4:-4, 4:-4].mean() < tol
        m = cache.masks[1][None]
        m_cpu = apply_warp(m[0].astype(np.float32) / 255, p, warp=False, is_mask=True)
        m_gpu = warper.masks(torch.from_numpy(m), torch.from_numpy(sampling_grid(p, False)[None]))[0]
        assert np.abs(m_cpu - m_gpu.permute(1, 2, 0).numpy()).max() < 0.02


def _maker(cache, **kw):
    return BatchMaker(cache, cache, kw.pop("batch", 4), 11,
                      SideAugment(flip=True, ct_mode=kw.pop("ct", None), hsv_power=kw.pop("hsv", 0.0)),
                      SideAugment(flip=True), **kw)


def test_batches_are_a_function_of_seed_and_iteration(cache):
    a, b = _maker(cache).make(7), _maker(cache).make(7)
    for side in ("src", "dst"):
        for k in ("warped", "target", "target_m", "target_em"):
            np.testing.assert_array_equal(a[side][k], b[side][k])
    assert not np.array_equal(a["src"]["warped"], _maker(cache).make(8)["src"]["warped"])
    s = a["src"]
    assert s["warped"].shape == (4, 3, 64, 64) and s["target_m"].shape == (4, 1, 64, 64)
    assert s["warped"].dtype == np.float32 and 0 <= s["warped"].min() and s["warped"].max() <= 1
    assert not np.allclose(s["warped"], s["target"])  # random warp on the input only
    # An epoch shows every face once.
    idx = [_maker(cache, batch=1).make(i)["src"]["target"] for i in range(4)]
    assert len({float(x.sum()) for x in idx}) == 4


def test_each_rank_builds_its_slice_of_the_global_batch(cache):
    full = _maker(cache).make(3)
    for rank in range(2):
        part = _maker(cache, batch=2, rank=rank, world=2).make(3)
        np.testing.assert_array_equal(part["src"]["warped"], full["src"]["warped"][2 * rank:2 * rank + 2])


def test_colour_transfer_and_hsv_change_src_only(cache):
    plain = _maker(cache).make(2)
    ct = _maker(cache, ct="rct", hsv=0.2).make(2)
    assert np.abs(plain["src"]["target"] - ct["src"]["target"]).mean() > 0.005
    np.testing.assert_array_equal(plain["src"]["target_m"], ct["src"]["target_m"])
    np.testing.assert_array_equal(plain["dst"]["target"], ct["dst"]["target"])


def test_gpu_geometry_batches_finish_like_cpu_batches(cache):
    cpu = _maker(cache).make(5)
    gpu = finish_batch(_maker(cache, gpu_geometry=True).make(5), torch.device("cpu"))
    for k in ("target", "target_m"):
        assert np.abs(gpu["src"][k].numpy() - cpu["src"][k]).mean() < 5e-3
    assert np.abs(gpu["src"]["warped"].numpy() - cpu["src"]["warped"]).mean() < 0.03


def test_worker_loader_yields_iterations_in_order(cache):
    reference = [_maker(cache).make(i)["src"]["warped"] for i in (20, 21, 22)]
    with make_loader(_maker(cache), 20, workers=2) as loader:
        for i, ref in zip((20, 21, 22), reference, strict=True):
            batch = next(loader)
            assert int(batch["iteration"]) == i
            np.testing.assert_array_equal(np.asarray(batch["src"]["warped"]), ref)


def test_uniform_yaw_buckets(dfl_fixtures: Path, tmp_path: Path, cache):
    buckets = yaw_buckets(np.array([-2.0, -0.5, -0.3, 0.001, 0.01, 1.0, 5.0], np.float32))
    assert [list(b) for b in buckets] == [[0], [1], [2], [3, 4], [5], [6]]  # out of range -> end bins
    mirrored = build_cache(write_mirrored_faces(dfl_fixtures, tmp_path / "m"), 64, "wf")
    assert np.isfinite(mirrored.yaws).all() and np.abs(mirrored.yaws).max() < 0.5
    m = BatchMaker(cache, cache, 8, 1, SideAugment(uniform_yaw=True), SideAugment(uniform_yaw=True))
    assert m.make(0)["src"]["warped"].shape[0] == 8


def test_a_packed_faceset_caches_like_its_folder(faces_dir: Path, cache, tmp_path: Path):
    from neuface.pack.packer import pack_faceset

    packed = shutil.copytree(faces_dir, tmp_path / "aligned")
    pack_faceset(packed)
    assert (packed / "faceset.pak").is_file() and not list(packed.glob("*.jpg"))
    from_pak = build_cache(packed, 64, "wf", "src")
    assert from_pak.names == cache.names
    np.testing.assert_array_equal(from_pak.crops, cache.crops)
    np.testing.assert_array_equal(from_pak.masks, cache.masks)
