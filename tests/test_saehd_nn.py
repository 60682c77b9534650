"""SAEHD networks: DFL forward parity (LIAE-UD 64 and the UNet patch discriminator), and for every archi
the weight keys, shapes and parameter counts that dfl-models.md §2.3-2.6 specify."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _saehd_ref import nchw, ref_dir, ref_model
from neuface.dfl.weights import dfl_variables, load_weight_file, module_to_dfl, read_weight_file
from neuface.errors import UsageError
from neuface.train.archi import parse_archi
from neuface.train.nn import CodeDiscriminator, UNetPatchDiscriminator, build_saehd, count_parameters, unet_patch_layers
from neuface.train.nn.layers import depth_to_space


def test_depth_to_space_is_dcr_not_pixelshuffle():
    b, oc, h, w, r = 2, 3, 4, 5, 2
    x = torch.randn(b, oc * r * r, h, w)
    y = depth_to_space(x, r)
    for k, i, j, hh, ww in [(0, 0, 1, 2, 3), (2, 1, 0, 3, 4), (1, 1, 1, 0, 0)]:
        assert y[1, k, hh * r + i, ww * r + j] == x[1, (i * r + j) * oc + k, hh, ww]
    assert not torch.equal(y, torch.nn.functional.pixel_shuffle(x, r))


def test_forward_matches_dfl_liae_ud_64(model_fixtures):
    ref = ref_dir(model_fixtures)
    net = ref_model(ref).net
    ws, wd = nchw(ref, "in_warped_src"), nchw(ref, "in_warped_dst")
    with torch.no_grad():
        for side, x in (("src", ws), ("dst", wd)):
            code = net.encoder(x)
            assert (code - nchw(ref, f"code_{side}_encoder")).abs().max() < 1e-3
        e_src, e_dst = net.encoder(ws), net.encoder(wd)
        assert (net.inter_AB(e_src) - nchw(ref, "code_src_inter_AB")).abs().max() < 1e-3
        assert (net.inter_AB(e_dst) - nchw(ref, "code_dst_inter_AB")).abs().max() < 1e-3
        assert (net.inter_B(e_dst) - nchw(ref, "code_dst_inter_B")).abs().max() < 1e-3
        out = net(ws, wd, swap=True)
        pairs = {"out_src_src": out.pred_src_src, "out_src_srcm": out.pred_src_srcm, "out_dst_dst": out.pred_dst_dst,
                 "out_dst_dstm": out.pred_dst_dstm, "out_src_dst": out.pred_src_dst, "out_src_dstm": out.pred_src_dstm}
        for name, got in pairs.items():
            err = (got - nchw(ref, name)).abs().max().item()
            assert err < 1e-4, (name, err)
        merged = net.merge(wd)
        for got, name in zip(merged, ("out_src_dst", "out_src_dstm", "out_dst_dstm"), strict=True):
            assert (got - nchw(ref, name)).abs().max() < 1e-4, name


def test_weights_round_trip_to_dfl_arrays_exactly(model_fixtures):
    ref = ref_dir(model_fixtures)
    net = ref_model(ref).net
    for name, part in net.parts():
        original = read_weight_file(ref / "weights" / f"ref_SAEHD_{name}.npy")
        ours = module_to_dfl(part, name)
        assert list(ours) == list(original)  # DFL's key order too
        for k in original:
            assert ours[k].dtype == np.float32 and np.array_equal(ours[k], original[k]), k


def test_unet_patch_discriminator_matches_dfl(model_fixtures):
    ref = model_fixtures / "unet_patch_disc_64_ps12"
    d = UNetPatchDiscriminator(12, 3, 16)
    assert [s for _, s in d.layers] == [2, 1, 2]
    load_weight_file(d, "D_src", ref / "weights" / "GAN.npy")
    x = nchw(ref, "in_x")
    with torch.no_grad():
        center, full = d(x)
    assert center.shape == (2, 1, 16, 16) and full.shape == (2, 1, 64, 64)
    assert (center - nchw(ref, "out_center")).abs().max() < 1e-4
    assert (full - nchw(ref, "out_full")).abs().max() < 1e-4


@pytest.mark.parametrize(("patch", "strides"), [
    (3, [2]), (5, [2]), (6, [2, 2]), (8, [2, 2]), (10, [2, 1, 2]), (12, [2, 1, 2]), (14, [2, 2, 2]),
    (16, [2, 2, 2]), (20, [2, 1, 2, 2]), (24, [2, 2, 1, 2]), (28, [2, 1, 2, 1, 2]), (32, [2, 2, 2, 2]),
    (40, [2, 2, 1, 2, 2]), (64, [2, 2, 2, 2, 2])])
def test_unet_patch_layer_search(patch, strides):
    assert [s for _, s in unet_patch_layers(patch)] == strides


def test_unet_patch_discriminator_res128_ps16_channels():
    d = UNetPatchDiscriminator(16, 3, 16)
    shapes = {v.key: v.dfl_shape for v in dfl_variables(d, "D_src")}
    assert shapes["convs_2/weight:0"] == (3, 3, 64, 128)
    assert shapes["upconvs_0/weight:0"] == (3, 3, 64, 128)
    assert shapes["upconvs_1/weight:0"] == (3, 3, 32, 128)
    assert shapes["upconvs_2/weight:0"] == (3, 3, 16, 64)
    assert shapes["out_conv/weight:0"] == (1, 1, 32, 1)
    center, full = d(torch.zeros(1, 3, 128, 128))
    assert center.shape[-1] == 16 and full.shape[-1] == 128


def test_code_discriminator_grows_with_k4_padding():
    net = build_saehd(128, "df-ud", 256, 64, 64, 22, device="meta")
    assert net.code_res == 8
    d = CodeDiscriminator(256, net.code_res)
    x = torch.zeros(1, 256, 8, 8)
    h = d.convs[0](x)
    assert h.shape[-1] == 5  # leras SAME pads k4 by 2: 8x8 -> 5x5
    assert d(x).shape[-1] == 3


@pytest.mark.parametrize("text", ["liae", "df-udtc", "LIAE-UD"])
def test_parse_archi_accepts(text):
    a = parse_archi(text)
    assert str(a) == text.lower()


@pytest.mark.parametrize("text", ["dfx", "liae-", "liae-ux", "df-u-d", ""])
def test_parse_archi_rejects(text):
    with pytest.raises(UsageError):
        parse_archi(text)


# ---- every archi: keys and shapes from the spec -----------------------------------------------------------
def _conv(prefix: str, k: int, i: int, o: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}/weight:0": (k, k, i, o), f"{prefix}/bias:0": (o,)}


def spec_shapes(archi: str, res: int, ae: int, e: int, d: int, m: int) -> dict[str, dict[str, tuple[int, ...]]]:
    """Expected DFL keys/shapes per file, written from dfl-models.md §2.3-2.5 (independent of our modules)."""
    a = parse_archi(archi)
    enc: dict[str, tuple[int, ...]] = {}
    if a.t:
        chans = [3, e, 2 * e, 4 * e, 8 * e, 8 * e]
        for i in range(5):
            enc.update(_conv(f"down{i + 1}/conv1", 5, chans[i], chans[i + 1]))
            if i + 1 in (1, 5):
                r = chans[i + 1]
                enc.update(_conv(f"res{i + 1}/conv1", 3, r, r) | _conv(f"res{i + 1}/conv2", 3, r, r))
        enc_res = res // 32
    else:
        prev = 3
        for i in range(4):
            ch = e * min(2**i, 8)
            enc.update(_conv(f"down1/downs_{i}/conv1", 5, prev, ch))
            prev = ch
        enc_res = res // 16
    flat = 8 * e * enc_res**2
    lowest = res // 32 if a.d else res // 16
    ae_out = 2 * ae if a.is_liae else ae
    inter = {"dense1/weight:0": (flat, ae), "dense1/bias:0": (ae,),
             "dense2/weight:0": (ae, lowest * lowest * ae_out), "dense2/bias:0": (lowest * lowest * ae_out,)}
    if not a.t:
        inter.update(_conv("upscale1/conv1", 3, ae_out, 4 * ae_out))
    dec_in = 4 * ae if a.is_liae else ae
    img = [dec_in, 8 * d, 8 * d, 4 * d, 2 * d] if a.t else [dec_in, 8 * d, 4 * d, 2 * d]
    msk = [dec_in, 8 * m, 8 * m, 4 * m, 2 * m] if a.t else [dec_in, 8 * m, 4 * m, 2 * m]
    dec: dict[str, tuple[int, ...]] = {}
    for i in range(len(img) - 1):
        dec.update(_conv(f"upscale{i}/conv1", 3, img[i], 4 * img[i + 1]))
        r = img[i + 1]
        dec.update(_conv(f"res{i}/conv1", 3, r, r) | _conv(f"res{i}/conv2", 3, r, r))
        dec.update(_conv(f"upscalem{i}/conv1", 3, msk[i], 4 * msk[i + 1]))
    dec.update(_conv("out_conv", 1, 2 * d, 3))
    if a.d:
        for j in (1, 2, 3):
            dec.update(_conv(f"out_conv{j}", 3, 2 * d, 3))
        dec.update(_conv(f"upscalem{len(msk) - 1}/conv1", 3, 2 * m, 4 * m))
        dec.update(_conv("out_convm", 1, m, 1))
    else:
        dec.update(_conv("out_convm", 1, 2 * m, 1))
    if a.is_liae:
        return {"encoder": enc, "inter_AB": inter, "inter_B": dict(inter), "decoder": dec}
    return {"encoder": enc, "inter": inter, "decoder_src": dec, "decoder_dst": dict(dec)}


ARCHIS = ["df", "df-u", "df-d", "df-t", "df-ud", "df-udt", "df-c", "liae", "liae-u", "liae-d", "liae-t",
          "liae-ud", "liae-udt", "liae-udtc"]


@pytest.mark.parametrize("archi", ARCHIS)
def test_every_archi_keys_shapes_and_output_size(archi):
    res, ae, e, d, m = 128, 256, 64, 64, 22
    net = build_saehd(res, archi, ae, e, d, m, device="meta")
    expected = spec_shapes(archi, res, ae, e, d, m)
    assert list(net.part_names) == list(expected)
    for name, part in net.parts():
        got = {v.key: v.dfl_shape for v in dfl_variables(part, name)}
        assert got == expected[name], name
    n_expected = sum(math.prod(s) for part in expected.values() for s in part.values())
    assert count_parameters(net) == n_expected
    x = torch.zeros(2, 3, res, res, device="meta")
    img, mask, dst_mask = net.merge(x)
    assert img.shape == (2, 3, res, res) and mask.shape == dst_mask.shape == (2, 1, res, res)


def test_liae_ud_128_default_parameter_count():
    net = build_saehd(128, "liae-ud", 256, 64, 64, 22, device="meta")
    assert count_parameters(net) == 82_376_555


def test_cos_activation_changes_the_output():
    torch.manual_seed(0)
    a = build_saehd(64, "df-ud", 32, 16, 16, 16)
    b = build_saehd(64, "df-udc", 32, 16, 16, 16)
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(a.merge(x)[0], b.merge(x)[0])
