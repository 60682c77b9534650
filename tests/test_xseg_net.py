"""XSeg parity with DFL's TensorFlow outputs, and DFL weight-file load/save (strict, safe, numpy-1 names)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from neuface.dfl.safe_pickle import safe_loads
from neuface.dfl.weights import read_pickle_bytes as read_pickle
from neuface.errors import ModelFormatError
from neuface.runtime import Precision
from neuface.xseg.infer import XSegMasker, to_input, xseg_precision
from neuface.xseg.model_files import WEIGHTS_NAME, find_xseg_files, load_dfl_state, save_weights, state_to_dfl
from neuface.xseg.net import XSeg


def nchw(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 3, 1, 2)


@pytest.fixture(scope="module")
def xseg_dir(model_fixtures: Path) -> Path:
    return model_fixtures / "xseg_256"


@pytest.fixture(scope="module")
def dfl_weights(xseg_dir: Path) -> dict:
    path = xseg_dir / "weights" / WEIGHTS_NAME
    return read_pickle(path.read_bytes(), str(path))


@pytest.fixture(scope="module")
def net(dfl_weights) -> XSeg:
    n = XSeg()
    load_dfl_state(n, dfl_weights, "fixture")
    return n.eval()


@pytest.fixture(scope="module")
def face(xseg_dir: Path) -> torch.Tensor:
    return to_input(np.load(xseg_dir / "in_face.npy"), torch.device("cpu"))


@pytest.fixture(scope="module")
def logits(net, face) -> np.ndarray:
    with torch.no_grad():
        return net(face).numpy()


def test_parameter_count_and_key_order(net, dfl_weights):
    assert sum(p.numel() for p in net.parameters()) == 17_569_317
    assert list(state_to_dfl(net)) == list(dfl_weights)  # DFL's attribute order, 222 keys
    assert len(dfl_weights) == 222


def test_logits_and_mask_match_dfl(logits, xseg_dir):
    ref_logits = nchw(np.load(xseg_dir / "out_logits.npy"))
    ref_mask = nchw(np.load(xseg_dir / "out_mask.npy"))
    np.testing.assert_allclose(logits, ref_logits, atol=1e-3, rtol=0)
    mask = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    np.testing.assert_allclose(mask, ref_mask, atol=1e-4, rtol=0)
    # The reference masks are far from trivial (random weights give values spread around 0.4).
    assert ref_mask.std() > 0.05


def test_intermediate_features_match_dfl(net, face, xseg_dir):
    with torch.no_grad():
        bottom, skips = net.encode(face[:1])
        bp0 = net.bp0(skips[0])
        dense = net.bottleneck(bottom)
        up5 = net.up5(dense)
    for got, name in ((bp0, "feat_bp0"), (bottom, "feat_bp5"), (dense, "feat_dense2_reshaped"), (up5, "feat_up5")):
        ref = nchw(np.load(xseg_dir / f"{name}.npy"))
        np.testing.assert_allclose(got.numpy(), ref, atol=1e-4, rtol=0, err_msg=name)


def test_extract_matches_dfl(xseg_dir):
    masker = XSegMasker.from_dir(xseg_dir / "weights", device="cpu", precision="fp32", batch_size=1)
    out = masker.predict(np.load(xseg_dir / "in_face.npy"))
    ref = np.load(xseg_dir / "out_extract.npy")[..., 0]
    # Values right at DFL's 0.1 cut-off may fall either side; everywhere else the match is tight.
    near_cut = np.abs(ref - 0.1) < 1e-4
    np.testing.assert_allclose(out[~near_cut], ref[~near_cut], atol=1e-4, rtol=0)
    assert (out[(ref == 0) & ~near_cut] == 0).all()


def test_bf16_autocast_close_to_fp32(net, face, logits):
    """bf16 on CPU (the runtime's CPU mixed precision): close to fp32 on average, few binary-mask flips."""
    masker = XSegMasker(net, torch.device("cpu"), Precision("bf16"))
    bf16 = masker.logits(face.permute(0, 2, 3, 1).numpy())
    m32 = 1 / (1 + np.exp(-logits[:, 0]))
    m16 = 1 / (1 + np.exp(-bf16))
    assert np.abs(m16 - m32).mean() < 1e-2
    assert np.abs(m16 - m32).max() < 0.1
    assert ((m16 > 0.5) != (m32 > 0.5)).mean() < 0.03
    assert np.abs(m16 - m32).max() > 0  # it really ran in reduced precision


def test_precision_policy():
    assert xseg_precision(torch.device("cpu")).name == "fp32"
    assert xseg_precision(torch.device("cpu"), "bf16").name == "bf16"


def test_save_roundtrip_dfl_format(net, dfl_weights, tmp_path):
    out = tmp_path / WEIGHTS_NAME
    save_weights(net, out)
    raw = out.read_bytes()
    assert raw[:2] == b"\x80\x04"  # protocol 4, as DFL writes weights
    assert b"numpy._core" not in raw and b"numpy.core.multiarray" in raw  # loadable by DFL's numpy 1.19
    back = safe_loads(raw)
    assert list(back) == list(dfl_weights)
    for k, v in dfl_weights.items():
        assert back[k].dtype == np.float32 and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v, err_msg=k)


def test_strict_loading_names_the_key(dfl_weights):
    n = XSeg()
    missing = dict(dfl_weights)
    del missing["uconv22/frn/eps:0"]
    with pytest.raises(ModelFormatError, match=r"missing weight 'uconv22/frn/eps:0'"):
        load_dfl_state(n, missing, "w.npy")
    extra = dict(dfl_weights, **{"conv99/conv/weight:0": np.zeros(3, np.float32)})
    with pytest.raises(ModelFormatError, match=r"unexpected weight 'conv99/conv/weight:0'"):
        load_dfl_state(n, extra, "w.npy")
    bad = dict(dfl_weights)
    bad["up0/conv/weight:0"] = bad["up0/conv/weight:0"].transpose(0, 1, 3, 2)
    with pytest.raises(ModelFormatError, match=r"'up0/conv/weight:0' has shape \(3, 3, 64, 32\)"):
        load_dfl_state(n, bad, "w.npy")


def test_unsafe_pickle_rejected(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / WEIGHTS_NAME
    path.write_bytes(pickle.dumps({"conv01/conv/weight:0": Evil()}, protocol=4))
    files = find_xseg_files([tmp_path])
    assert files is not None
    with pytest.raises(ModelFormatError, match=rf"{WEIGHTS_NAME}.*builtins.print"):
        XSegMasker.from_files(files, device="cpu")


def test_zip_model_found(xseg_dir, tmp_path):
    import zipfile

    z = tmp_path / "GenericXSeg.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(xseg_dir / "weights" / WEIGHTS_NAME, f"GenericXSeg/{WEIGHTS_NAME}")
    for candidate in (z, tmp_path):
        files = find_xseg_files([tmp_path / "nope", candidate])
        assert files is not None and files.weights_name.endswith(f"GenericXSeg/{WEIGHTS_NAME}")
        assert files.face_type() is None
