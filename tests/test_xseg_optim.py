"""XSeg's optimizer against leras RMSprop, through DFL's files: load `XSeg_256_opt.npy`, step once, save, compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from neuface.dfl.safe_pickle import dumps_compat, safe_loads
from neuface.dfl.weights import dfl_key, to_dfl_layout
from neuface.dfl.weights import owner_module as _owner
from neuface.xseg.model_files import OPT_NAME, WEIGHTS_NAME, opt_key, state_to_dfl
from neuface.xseg.net import XSeg
from neuface.xseg.train import _load_or_create, save_model

LR, RHO = 1e-4, 0.9  # DFL's Model_XSeg
LERAS_EPS = 1e-6  # np.finfo(np.float32).resolution, added outside the root (dfl-models.md, RMSprop)


def test_one_update_after_reload_is_leras_rmsprop_with_eps_1e6(tmp_path: Path):
    torch.manual_seed(0)
    net = XSeg()
    weights = state_to_dfl(net)
    rng = np.random.default_rng(5)
    # Gradients and accumulators of ~1e-6, so sqrt(acc) is of the order of eps and eps shapes every update.
    grads = {n: rng.normal(0, 1e-6, p.shape).astype(np.float32) for n, p in net.named_parameters()}
    acc = {opt_key(n): rng.uniform(0, 4e-12, weights[dfl_key(n)].shape).astype(np.float32)
           for n, _ in net.named_parameters()}
    model = tmp_path / "model"
    model.mkdir()
    (model / WEIGHTS_NAME).write_bytes(dumps_compat(weights, protocol=4))
    (model / OPT_NAME).write_bytes(dumps_compat({"iters:0": np.array(7, dtype=np.int64), **acc}, protocol=4))

    st = _load_or_create(model, "wf", 2, None, torch.device("cpu"))
    assert st.opt.iterations == 7 and st.opt.lr == LR and st.opt.rho == RHO
    st.opt.lr_dropout = 1.0  # the keep-mask is random; the rule it multiplies is what is compared
    for n, p in st.net.named_parameters():
        p.grad = torch.from_numpy(grads[n].copy())
    st.opt.step()
    save_model(model, st)
    new_w = safe_loads((model / WEIGHTS_NAME).read_bytes())
    new_opt = safe_loads((model / OPT_NAME).read_bytes())
    assert int(new_opt["iters:0"]) == 8

    for n, _ in net.named_parameters():
        g = to_dfl_layout(_owner(net, n), n.rsplit(".", 1)[-1], torch.from_numpy(grads[n])).astype(np.float64)
        a0, w0 = acc[opt_key(n)].astype(np.float64), weights[dfl_key(n)].astype(np.float64)
        a1 = RHO * a0 + (1 - RHO) * g**2
        w1 = w0 - LR * g / (np.sqrt(a1) + LERAS_EPS)
        # float32 arithmetic against float64: the accumulator to a few ulps (1e-6 relative); the weight to one
        # ulp of its value (the float32 update, <= lr*sqrt(10) = 3.2e-4, carries ~1e-7 relative error, 3e-11,
        # and the sum w + update rounds by half an ulp).
        np.testing.assert_allclose(new_opt[opt_key(n)], a1, rtol=1e-6, atol=1e-20, err_msg=n)
        tol = np.spacing(np.abs(w1).astype(np.float32)).astype(np.float64) + 1e-10
        assert np.all(np.abs(new_w[dfl_key(n)] - w1) <= tol), n
        # eps 1e-7 (the old value) moves these weights by far more than that tolerance
        w_old = w0 - LR * g / (np.sqrt(a1) + 1e-7)
        assert float(np.abs(w_old - w1).max()) > 100 * float(tol.max()), n

