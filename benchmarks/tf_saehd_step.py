"""DFL's SAEHD training step (`src_dst_train`) rebuilt in TensorFlow, as DFL runs it on a CPU: a TF1 graph
(`tf.compat.v1`, ref variables, one `session.run` per step fed from numpy), NHWC, leras padding, DFL's
losses and its AdaBelief. It is the same-run baseline for `train_step_bench.py --tf-python`: DFL's own
number on *this* machine, under the same environment (e.g. an AVX2 emulation), instead of a figure recorded
on another one.

It is neuface's own code, written from ../shared/docs/dfl-models.md (sections 1 and 2), and `--check` proves
it is DFL's graph: on ../shared/fixtures/models/saehd_liae_ud_64 it reproduces DFL's step-0 losses and the
outputs after one step that DFL's TensorFlow code computed. LIAE-UD only (the archi the timing fixture and
the issue use); SAEHD defaults (masked training, no GAN/style/true-face, no lr_dropout/clipgrad).

TensorFlow is not a neuface dependency; run this in its own environment (the fixtures were made with
tensorflow-cpu 2.21.0):

    python3 -m venv /tmp/tfv && /tmp/tfv/bin/pip install tensorflow-cpu==2.21.0
    /tmp/tfv/bin/python benchmarks/tf_saehd_step.py --check            # matches DFL's fixture outputs
    /tmp/tfv/bin/python benchmarks/tf_saehd_step.py --steps 10         # LIAE-UD 128, batch 4, default dims
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1
ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT.parent / "shared/fixtures/models/saehd_liae_ud_64"


class Graph:
    """Variables by DFL key (`encoder/down1/downs_0/conv1/weight:0` ...) and the layers that make them."""

    def __init__(self) -> None:
        self.variables: dict[str, tf1.Variable] = {}

    def var(self, key: str, shape: tuple[int, ...], zero: bool = False) -> tf1.Variable:
        """DFL's init: Glorot-uniform kernels (TF's get_variable default), zero biases."""
        if key not in self.variables:
            init = tf1.zeros_initializer() if zero else tf1.glorot_uniform_initializer()
            self.variables[key] = tf1.get_variable(key.replace(":0", "").replace("/", "__"), shape,
                                                   tf.float32, init)
        return self.variables[key]

    def conv(self, x: tf.Tensor, key: str, cin: int, cout: int, k: int, stride: int = 1) -> tf.Tensor:
        """leras Conv2D: explicit symmetric zero pad ((k-1)+1)//2, VALID conv, bias add."""
        w = self.var(f"{key}/weight:0", (k, k, cin, cout))
        b = self.var(f"{key}/bias:0", (cout,), zero=True)
        p = k // 2
        if p:
            x = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])
        return tf.nn.conv2d(x, w, [1, stride, stride, 1], "VALID") + tf.reshape(b, (1, 1, 1, cout))

    def dense(self, x: tf.Tensor, key: str, cin: int, cout: int) -> tf.Tensor:
        return tf.matmul(x, self.var(f"{key}/weight:0", (cin, cout))) + self.var(f"{key}/bias:0", (cout,), True)

    def upscale(self, x: tf.Tensor, key: str, cin: int, cout: int) -> tf.Tensor:
        return depth_to_space(tf.nn.leaky_relu(self.conv(x, f"{key}/conv1", cin, cout * 4, 3), 0.1))

    def residual(self, x: tf.Tensor, key: str, ch: int) -> tf.Tensor:
        y = tf.nn.leaky_relu(self.conv(x, f"{key}/conv1", ch, ch, 3), 0.2)
        return tf.nn.leaky_relu(x + self.conv(y, f"{key}/conv2", ch, ch, 3), 0.2)

    # ---- SAEHD LIAE-UD (dfl-models.md 2.3-2.6) ----------------------------------------------------
    def encoder(self, x: tf.Tensor, e: int) -> tf.Tensor:
        cin = 3
        for i in range(4):
            cout = e * min(2**i, 8)
            x = tf.nn.leaky_relu(self.conv(x, f"encoder/down1/downs_{i}/conv1", cin, cout, 5, 2), 0.1)
            cin = cout
        x = tf.reshape(tf.transpose(x, (0, 3, 1, 2)), (tf.shape(x)[0], -1))  # flatten in (C,H,W) order
        return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), -1, keepdims=True) + 1e-6)  # `u`: pixel norm

    def inter(self, x: tf.Tensor, name: str, cin: int, ae: int, lowest: int) -> tf.Tensor:
        out = 2 * ae  # LIAE
        x = self.dense(self.dense(x, f"{name}/dense1", cin, ae), f"{name}/dense2", ae, lowest * lowest * out)
        x = tf.transpose(tf.reshape(x, (-1, out, lowest, lowest)), (0, 2, 3, 1))  # reshape_4D: (C,H,W) order
        return self.upscale(x, f"{name}/upscale1", out, out)

    def decoder(self, z: tf.Tensor, cin: int, d: int, m: int) -> tuple[tf.Tensor, tf.Tensor]:
        chans, x = [cin, d * 8, d * 4, d * 2], z
        for i in range(3):
            x = self.residual(self.upscale(x, f"decoder/upscale{i}", chans[i], chans[i + 1]), f"decoder/res{i}",
                              chans[i + 1])
        heads = [self.conv(x, "decoder/out_conv", d * 2, 3, 1)]
        heads += [self.conv(x, f"decoder/out_conv{j}", d * 2, 3, 3) for j in (1, 2, 3)]
        img = tf.sigmoid(depth_to_space(tf.concat(heads, -1)))
        mchans, y = [cin, m * 8, m * 4, m * 2, m], z
        for i in range(4):
            y = self.upscale(y, f"decoder/upscalem{i}", mchans[i], mchans[i + 1])
        return img, tf.sigmoid(self.conv(y, "decoder/out_convm", m, 1, 1))


def depth_to_space(x: tf.Tensor, r: int = 2) -> tf.Tensor:
    """DFL's NHWC depth-to-space: a reshape/transpose in TensorFlow's DCR order."""
    _, h, w, c = x.shape
    oc = c // (r * r)
    x = tf.reshape(x, (-1, h, w, r, r, oc))
    return tf.reshape(tf.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, h * r, w * r, oc))


def _depthwise(x: tf.Tensor, taps: np.ndarray, pad: int) -> tf.Tensor:
    """Per-channel 2-D filtering with the outer product of `taps`, zero padding `pad`, VALID."""
    c = int(x.shape[-1])
    k2 = np.outer(taps, taps).astype(np.float32)
    kernel = tf.constant(np.tile(k2[:, :, None, None], (1, 1, c, 1)))
    if pad:
        x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "VALID")


def gaussian_blur(x: tf.Tensor, sigma: float) -> tf.Tensor:
    ks = max(3, int(4 * sigma))
    ks += 1 - ks % 2
    t = np.exp(-((np.arange(ks) - ks // 2) ** 2) / (2 * sigma**2))
    return _depthwise(x, t / t.sum(), ks // 2)


def dssim(a: tf.Tensor, b: tf.Tensor, filter_size: int, sigma: float = 1.5) -> tf.Tensor:
    """(1 - SSIM)/2 per (sample, channel), Gaussian window, VALID; max_val 1."""
    coords = np.arange(filter_size) - (filter_size - 1) / 2.0
    g = np.exp(-0.5 * coords**2 / sigma**2)
    taps = g / g.sum()
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = _depthwise(a, taps, 0), _depthwise(b, taps, 0)
    num0, den0 = mu_a * mu_b * 2.0, tf.square(mu_a) + tf.square(mu_b)
    num1 = _depthwise(a * b, taps, 0) * 2.0
    den1 = _depthwise(tf.square(a) + tf.square(b), taps, 0)
    ssim = tf.reduce_mean((num0 + c1) / (den0 + c1) * (num1 - num0 + c2) / (den1 - den0 + c2), (1, 2))
    return (1.0 - ssim) / 2.0


def side_loss(target: tf.Tensor, target_m: tf.Tensor, pred: tf.Tensor, pred_m: tf.Tensor, res: int) -> tf.Tensor:
    """One side's per-sample loss: DSSIM + 10*MSE on blur-masked images + 10*mask MSE (res < 256)."""
    blur = tf.clip_by_value(gaussian_blur(target_m, max(1, res // 32)), 0.0, 0.5) * 2.0
    t, p = target * blur, pred * blur
    loss = 10.0 * tf.reduce_mean(dssim(t, p, int(res / 11.6)), 1)
    loss += 10.0 * tf.reduce_mean(tf.square(t - p), (1, 2, 3))
    return loss + 10.0 * tf.reduce_mean(tf.square(target_m - pred_m), (1, 2, 3))


INPUTS = ("warped_src", "target_src", "target_srcm", "warped_dst", "target_dst", "target_dstm")


class Step:
    """The graph of one `src_dst_train` and its session; `run(feed)` returns the per-sample losses."""

    def __init__(self, res: int, batch: int, ae: int, e: int, d: int, m: int, lr: float = 5e-5,
                 grads_first: bool = False):
        tf1.disable_v2_behavior()
        tf1.reset_default_graph()
        g = Graph()
        self.ph = {k: tf1.placeholder(tf.float32, (None, res, res, 1 if k.endswith("m") else 3), k) for k in INPUTS}
        lowest, flat = res // 32, 8 * e * (res // 16) ** 2  # `d`: the inter starts at res/32
        enc_src, enc_dst = g.encoder(self.ph["warped_src"], e), g.encoder(self.ph["warped_dst"], e)
        ab_src = g.inter(enc_src, "inter_AB", flat, ae, lowest)
        b_dst = g.inter(enc_dst, "inter_B", flat, ae, lowest)
        ab_dst = g.inter(enc_dst, "inter_AB", flat, ae, lowest)
        self.outputs = {}
        self.outputs["src_src"], self.outputs["src_srcm"] = g.decoder(tf.concat([ab_src, ab_src], -1), 4 * ae, d, m)
        self.outputs["dst_dst"], self.outputs["dst_dstm"] = g.decoder(tf.concat([b_dst, ab_dst], -1), 4 * ae, d, m)
        self.outputs["src_dst"], self.outputs["src_dstm"] = g.decoder(tf.concat([ab_dst, ab_dst], -1), 4 * ae, d, m)
        self.src_loss = side_loss(self.ph["target_src"], self.ph["target_srcm"], self.outputs["src_src"],
                                  self.outputs["src_srcm"], res)
        self.dst_loss = side_loss(self.ph["target_dst"], self.ph["target_dstm"], self.outputs["dst_dst"],
                                  self.outputs["dst_dstm"], res)
        self.variables = g.variables
        weights = list(g.variables.values())
        grads = tf1.gradients(self.src_loss + self.dst_loss, weights)  # a vector: its batch sum is differentiated
        self.train_op = adabelief(weights, grads, lr, grads_first)
        self.session = tf1.Session(config=tf1.ConfigProto(device_count={"GPU": 0}))
        self.session.run(tf1.global_variables_initializer())

    def load(self, weights: dict[str, np.ndarray]) -> None:
        for key, var in self.variables.items():
            var.load(weights[key], self.session)

    def feed(self, arrays: dict[str, np.ndarray]) -> dict:
        return {self.ph[k]: arrays[k] for k in INPUTS}

    def run(self, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        src, dst, _ = self.session.run([self.src_loss, self.dst_loss, self.train_op], self.feed(arrays))
        return src, dst


def adabelief(weights: list, grads: list, lr: float, grads_first: bool) -> tf.Operation:
    """DFL's AdaBelief (no bias correction): m, v (of g - m), -lr*m/(sqrt(v)+1e-6), grouped assigns.

    DFL's assigns have no control dependency on the backward pass (its step is racy); `grads_first` adds
    one, which is what the fixture's after-one-step reference was made with."""
    updates = []
    with tf.control_dependencies(grads if grads_first else []):
        for w, g in zip(weights, grads, strict=True):
            ms = tf1.get_variable(w.op.name + "_ms", w.shape, tf.float32, tf1.zeros_initializer(), trainable=False)
            vs = tf1.get_variable(w.op.name + "_vs", w.shape, tf.float32, tf1.zeros_initializer(), trainable=False)
            m_t = 0.9 * ms + 0.1 * g
            v_t = 0.999 * vs + 0.001 * tf.square(g - m_t)
            updates += [tf1.assign(ms, m_t), tf1.assign(vs, v_t),
                        tf1.assign(w, w - lr * m_t / (tf.sqrt(v_t) + np.finfo(np.float32).resolution))]
    return tf.group(*updates)


def random_inputs(res: int, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random images and an ellipse mask, NHWC (as train_step_bench.make_batch, in DFL's layout)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, res), np.linspace(-1, 1, res), indexing="ij")
    ellipse = ((xx / 0.7) ** 2 + (yy / 0.85) ** 2 < 1).astype(np.float32)
    mask = np.ascontiguousarray(np.broadcast_to(ellipse[None, :, :, None], (batch, res, res, 1)))
    out = {k: rng.random((batch, res, res, 3), dtype=np.float32) for k in INPUTS if not k.endswith("m")}
    out.update(target_srcm=mask, target_dstm=mask.copy())
    return out


def check() -> int:
    """Step-0 losses and the outputs after one step against DFL's TensorFlow fixture (res 64)."""
    sys.path.insert(0, str(ROOT / "src"))
    from neuface.dfl.safe_pickle import safe_loads  # the project's restricted unpickler: numpy + stdlib only

    meta = json.loads((FIXTURE / "meta.json").read_text())["options"]
    step = Step(meta["resolution"], meta["batch_size"], meta["ae_dims"], meta["e_dims"], meta["d_dims"],
                meta["d_mask_dims"], grads_first=True)
    weights = {}
    for part in ("encoder", "inter_AB", "inter_B", "decoder"):
        stored = safe_loads((FIXTURE / f"weights/ref_SAEHD_{part}.npy").read_bytes())
        weights.update({f"{part}/{k}": v for k, v in stored.items()})
    step.load(weights)
    arrays = {k: np.load(FIXTURE / f"in_{k}.npy") for k in INPUTS}
    worst = 0.0
    before = step.session.run(step.outputs, step.feed(arrays))
    for name, value in before.items():
        worst = max(worst, report(f"out_{name}", value, np.load(FIXTURE / f"out_{name}.npy"), 1e-4))
    src, dst = step.run(arrays)
    worst = max(worst, report("loss_step0_src", src, np.load(FIXTURE / "loss_step0_src.npy"), 1e-4))
    worst = max(worst, report("loss_step0_dst", dst, np.load(FIXTURE / "loss_step0_dst.npy"), 1e-4))
    after = step.session.run(step.outputs, step.feed(arrays))
    for name, value in after.items():
        ref = np.load(FIXTURE / f"out_{name}_after_step1.npy")
        worst = max(worst, report(f"out_{name}_after_step1", value, ref, 1e-4))
    print("match" if worst <= 1 else "MISMATCH")
    return 0 if worst <= 1 else 1


def report(name: str, got: np.ndarray, ref: np.ndarray, atol: float) -> float:
    """Prints the max abs difference; returns it in units of `atol` (the fixture README's tolerance)."""
    diff = float(np.abs(got - ref).max())
    print(f"{name}: max |diff| {diff:.2e} (tolerance {atol:.0e})")
    return diff / atol


def timing(args: argparse.Namespace) -> dict:
    step = Step(args.res, args.batch, args.ae_dims, args.e_dims, args.d_dims, args.d_mask_dims)
    arrays = random_inputs(args.res, args.batch)
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        step.run(arrays)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    n_params = sum(int(np.prod(v.shape)) for v in step.variables.values())
    return {"median": statistics.median(times), "min": min(times), "mean": statistics.fmean(times),
            "times": times, "trainable_params": n_params, "tf_version": tf.__version__,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with DFL's TensorFlow fixture outputs and exit")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--res", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--ae-dims", type=int, default=256)
    ap.add_argument("--e-dims", type=int, default=64)
    ap.add_argument("--d-dims", type=int, default=64)
    ap.add_argument("--d-mask-dims", type=int, default=22)
    ap.add_argument("--json", action="store_true", help="print one JSON line (for train_step_bench.py)")
    args = ap.parse_args()
    if args.check:
        return check()
    result = timing(args)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"DFL's SAEHD step in TensorFlow {result['tf_version']} (LIAE-UD res {args.res} batch {args.batch}, "
              f"{result['trainable_params']:,} params): median {result['median']:.3f} s, min {result['min']:.3f} s, "
              f"mean {result['mean']:.3f} s over {args.steps} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
