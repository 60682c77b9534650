"""DFL's AdaBelief/RMSprop: the update formula, the *_opt.npy state format, and one full SAEHD training step
reproducing DFL's `out_*_after_step1` references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from _saehd_ref import nchw, ref_batch, ref_dir, ref_model
from neuface.dfl.optim import AdaBelief, RMSprop
from neuface.dfl.weights import dfl_variables
from neuface.errors import ModelFormatError
from neuface.train.step import SAEHDTrainer


def _index_keys(index_file, section: str) -> list[str]:
    keys, on = [], False
    for line in index_file.read_text().splitlines():
        if line.startswith("## "):
            on = line.endswith(section)
            continue
        if on and line.strip():
            keys.append(line.split("\t")[0])
    return keys


def test_one_training_step_matches_dfl(model_fixtures):
    ref = ref_dir(model_fixtures)
    model = ref_model(ref)
    model.src_dst_opt.fused = False  # the compiled update is checked against eager below
    trainer = SAEHDTrainer(model)
    result = trainer.train_step(ref_batch(ref))
    assert np.abs(result.src_loss - np.load(ref / "loss_step0_src.npy")).max() < 1e-4
    assert model.iter == 1 and model.src_dst_opt.iters == 1 and len(model.loss_history) == 1
    b = ref_batch(ref)
    with torch.no_grad():
        out = model.net(b.warped_src, b.warped_dst, swap=True)
    pairs = {"out_src_src": out.pred_src_src, "out_src_srcm": out.pred_src_srcm, "out_dst_dst": out.pred_dst_dst,
             "out_dst_dstm": out.pred_dst_dstm, "out_src_dst": out.pred_src_dst, "out_src_dstm": out.pred_src_dstm}
    for name, got in pairs.items():
        after = nchw(ref, f"{name}_after_step1")
        assert (got - after).abs().max() < 1e-4, name
        assert (got - nchw(ref, name)).abs().max() > 1e-2, f"{name}: the step changed nothing"


def test_state_keys_are_dfls(model_fixtures):
    ref = ref_dir(model_fixtures)
    model = ref_model(ref)
    keys = list(model.src_dst_opt.state_to_dfl())
    assert keys == _index_keys(ref / "weights_index.txt", "ref_SAEHD_src_dst_opt.npy")
    state = model.src_dst_opt.state_to_dfl()
    assert state["iters:0"].dtype == np.int64 and state["iters:0"].shape == ()
    assert state["ms_decoder/upscale0/conv1/weight_0:0"].shape == (3, 3, 256, 1024)


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.dense1 = nn.Linear(5, 2)


def _numpy_adabelief(p, g, m, v, lr, b1=0.9, b2=0.999):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * (g - m) ** 2
    return p - lr * m / (np.sqrt(v) + 1e-6), m, v


def _tiny_opt(cls, **kw):
    torch.manual_seed(0)
    net = _Tiny()
    return net, cls(dfl_variables(net, "tiny"), "opt", fused=False, **kw)


def test_adabelief_update_formula_over_steps():
    net, opt = _tiny_opt(AdaBelief, lr=0.01)
    p0 = [p.detach().double().numpy().copy() for p in net.parameters()]
    m = [np.zeros_like(x) for x in p0]
    v = [np.zeros_like(x) for x in p0]
    rng = np.random.default_rng(1)
    for _ in range(3):
        grads = [rng.normal(size=x.shape) for x in p0]
        for p, g in zip(net.parameters(), grads, strict=True):
            p.grad = torch.from_numpy(g).float()
        opt.step()
        for i in range(len(p0)):
            p0[i], m[i], v[i] = _numpy_adabelief(p0[i], grads[i], m[i], v[i], 0.01)
    for p, want in zip(net.parameters(), p0, strict=True):
        assert np.abs(p.detach().numpy() - want).max() < 1e-5
    assert opt.iters == 3


def test_cosine_schedule_clipnorm_and_lr_dropout():
    _, opt = _tiny_opt(AdaBelief, lr=1.0, lr_cos=500)
    opt.iters = 125
    assert opt.current_lr() == pytest.approx((math.cos(125 * 2 * 3.1415926535 / 500) + 1) / 2)
    net, opt = _tiny_opt(AdaBelief, lr=0.01, clipnorm=1.0)
    before = [p.detach().clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = torch.full_like(p, 10.0)
    n = math.sqrt(sum(p.numel() for p in net.parameters()) * 100.0)
    opt.step()
    g = 10.0 / n  # clipped gradient, identical everywhere
    m = 0.1 * g
    v = 0.001 * (g - m) ** 2
    want = -0.01 * m / (math.sqrt(v) + 1e-6)
    for p, b in zip(net.parameters(), before, strict=True):
        assert torch.allclose(p.detach() - b, torch.full_like(b, want), rtol=1e-3)
    big = nn.Linear(100, 100)
    opt = AdaBelief(dfl_variables(big, "big"), "opt", lr=0.01, lr_dropout=0.3, fused=False)
    before = big.weight.detach().clone()
    big.weight.grad = torch.ones_like(big.weight)
    big.bias.grad = torch.ones_like(big.bias)
    opt.step()
    changed = (big.weight.detach() != before).float().mean().item()
    assert 0.25 < changed < 0.35  # keep-probability 0.3


def test_rmsprop_update_formula():
    net, opt = _tiny_opt(RMSprop, lr=0.01)
    p = net.dense1.weight
    before = p.detach().double().numpy().copy()
    g = np.full(before.shape, 0.5)
    for q in net.parameters():
        q.grad = torch.full_like(q, 0.5)
    opt.step()
    a = 0.1 * g**2
    want = before - 0.01 * g / (np.sqrt(a) + 1e-6)
    assert np.abs(p.detach().numpy() - want).max() < 1e-6
    assert [k.split("/")[0] for k in opt.state_to_dfl()][:2] == ["iters:0", "acc_tiny"]


def test_variables_without_grad_are_left_alone():
    net, opt = _tiny_opt(AdaBelief, lr=0.01)
    before = net.dense1.weight.detach().clone()
    net.conv1.weight.grad = torch.ones_like(net.conv1.weight)
    opt.step()
    assert torch.equal(net.dense1.weight.detach(), before)
    assert float(opt.state["ms"][2].abs().sum()) == 0.0
    assert float(opt.state["ms"][0].abs().sum()) > 0.0


def test_state_round_trip_and_strict_keys(tmp_path):
    net, opt = _tiny_opt(AdaBelief, lr=0.01)
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    state = opt.state_to_dfl()
    _, other = _tiny_opt(AdaBelief)
    other.load_dfl(state, "x.npy")
    assert other.iters == 1
    for a, b in zip(opt.state["vs"], other.state["vs"], strict=True):
        assert torch.equal(a, b)
    broken = dict(state)
    del broken["vs_tiny/dense1/bias_0:0"]
    with pytest.raises(ModelFormatError, match="vs_tiny/dense1/bias_0:0"):
        other.load_dfl(broken, "x.npy")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"))])
def test_fused_update_equals_eager(device: str):
    """The compiled update (C++ on CPU, triton on CUDA) against the eager foreach one."""
    torch.manual_seed(3)
    nets = [_Tiny().to(device), _Tiny().to(device)]
    nets[1].load_state_dict(nets[0].state_dict())
    opts = [AdaBelief(dfl_variables(n, "tiny"), "o", lr=0.01, clipnorm=1.0, fused=f)
            for n, f in zip(nets, (False, True), strict=True)]
    for _ in range(2):
        grads = [torch.randn_like(p) for p in nets[0].parameters()]
        for n, o in zip(nets, opts, strict=True):
            for p, g in zip(n.parameters(), grads, strict=True):
                p.grad = g.clone()
            o.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-7)


def test_many_optimizers_in_one_process_all_keep_the_fused_update():
    """Dynamo allows 8 compiles per code object by default; a process with many models must not hit that.

    The process limit is lowered to 1 here, so three optimizers (three compiles) cross it: what is tested is
    that each first compile lifts the limit, without paying for nine C++ compiles to cross the default 8."""
    with torch._dynamo.config.patch(recompile_limit=1):
        for i in range(3):
            torch.manual_seed(i)
            net = nn.Sequential(nn.Conv2d(3, 2 + i, 3))  # a new shape: a new compile of the same code object
            opt = AdaBelief(dfl_variables(net, f"t{i}"), "o", lr=0.01, fused=True)  # raises, never falls back
            for p in net.parameters():
                p.grad = torch.randn_like(p)
            before = [p.detach().clone() for p in net.parameters()]
            opt.step()
            assert all(not torch.equal(a, b) for a, b in zip(net.parameters(), before, strict=True))
