"""One SAEHD model in memory: options, networks, optimizers and training state, wired like DFL's
SAEHDModel.on_initialize (which parts exist, which are trained, which optimizer).

`neuface.train.model_folder` reads and writes it as DFL's files; `neuface.train.step` trains it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from neuface.dfl.optim import AdaBelief, DflOptimizer, RMSprop
from neuface.dfl.weights import DflVar, dfl_variables
from neuface.errors import UsageError
from neuface.train.nn import SAEHD, CodeDiscriminator, UNetPatchDiscriminator, build_saehd
from neuface.train.options import ARCHITECTURE_KEYS, LEARNING_RATE, SAEHDOptions

GAN_SCOPE = "D_src"  # DFL's variable scope names (embedded in optimizer keys)
CODE_DISCRIMINATOR_SCOPE = "dis"


@dataclass
class SAEHDModel:
    """Everything DFL keeps for an SAEHD model. Part names are DFL's file suffixes."""

    options: SAEHDOptions
    net: SAEHD
    src_dst_opt: DflOptimizer
    gan: UNetPatchDiscriminator | None = None
    gan_opt: DflOptimizer | None = None
    code_discriminator: CodeDiscriminator | None = None
    code_discriminator_opt: DflOptimizer | None = None
    iter: int = 0
    loss_history: list[list[float]] = field(default_factory=list)
    sample_for_preview: Any = None
    extra: dict[str, Any] = field(default_factory=dict)  # neuface-only state (data.dat key "neuface")

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def weight_parts(self) -> list[tuple[str, nn.Module]]:
        """(file part, module) for every network file, in DFL's order."""
        parts: list[tuple[str, nn.Module]] = list(self.net.parts())
        if self.gan is not None:
            parts.append(("GAN", self.gan))
        if self.code_discriminator is not None:
            parts.append(("code_discriminator", self.code_discriminator))
        return parts

    def optimizer_parts(self) -> list[tuple[str, DflOptimizer]]:
        parts: list[tuple[str, DflOptimizer]] = [("src_dst_opt", self.src_dst_opt)]
        if self.gan_opt is not None:
            parts.append(("GAN_opt", self.gan_opt))
        if self.code_discriminator_opt is not None:
            parts.append(("D_code_opt", self.code_discriminator_opt))
        return parts

    @property
    def lr(self) -> float:
        return self.src_dst_opt.lr


def _saehd_variables(net: SAEHD) -> list[DflVar]:
    out: list[DflVar] = []
    for name, part in net.parts():
        out += dfl_variables(part, name)
    return out


def _optimizer(options: SAEHDOptions, variables: list[DflVar], name: str, lr: float) -> DflOptimizer:
    """SAEHD's choice: AdaBelief when the `adabelief` option is on, else RMSprop."""
    return (AdaBelief if options.adabelief else RMSprop)(variables, name, lr=lr, lr_dropout=options.lr_dropout_keep,
                                                          lr_cos=options.lr_cos, clipnorm=options.clipnorm)


def set_trainable(model: SAEHDModel) -> None:
    """LIAE without random warp freezes inter_AB (DFL trains encoder, inter_B and decoder only)."""
    net = model.net
    frozen = net.is_liae and not model.options.effective_random_warp
    for name, part in net.parts():
        part.requires_grad_(not (frozen and name == "inter_AB"))


def build_model(options: SAEHDOptions, device: torch.device | str = "cpu", lr: float = LEARNING_RATE) -> SAEHDModel:
    """A freshly initialised model (DFL's Glorot init), with the GAN and true-face parts the options ask for."""
    o = options.normalized()
    net = build_saehd(o.resolution, o.archi, o.ae_dims, o.e_dims, o.d_dims, o.d_mask_dims, device=device)
    model = SAEHDModel(o, net, _optimizer(o, _saehd_variables(net), "src_dst_opt", lr))
    ensure_side_parts(model)
    set_trainable(model)
    return model


def ensure_side_parts(model: SAEHDModel) -> list[str]:
    """Create (freshly initialised) the GAN / code discriminator the options need and drop unneeded ones.

    A GAN whose patch size or dims changed is rebuilt, as DFL re-initialises it. Returns the parts
    that were (re)built.
    """
    o, device, lr = model.options, model.device, model.lr
    rebuilt: list[str] = []
    if o.effective_gan_power != 0:
        g = model.gan
        if g is None or g.patch_size != o.gan_patch_size or g.base_ch != o.gan_dims:
            with torch.device(device):
                model.gan = UNetPatchDiscriminator(o.gan_patch_size, 3, o.gan_dims)
            model.gan_opt = _optimizer(o, dfl_variables(model.gan, GAN_SCOPE), "GAN_opt", lr)
            rebuilt.append("GAN")
    else:
        model.gan = model.gan_opt = None
    if o.archi_parsed.type == "df" and o.true_face_power != 0:
        if model.code_discriminator is None:
            with torch.device(device):
                model.code_discriminator = CodeDiscriminator(o.ae_dims, model.net.code_res)
            model.code_discriminator_opt = _optimizer(
                o, dfl_variables(model.code_discriminator, CODE_DISCRIMINATOR_SCOPE), "D_code_opt", lr)
            rebuilt.append("code_discriminator")
    else:
        model.code_discriminator = model.code_discriminator_opt = None
    return rebuilt


def apply_options(model: SAEHDModel, new: SAEHDOptions) -> list[str]:
    """Change training options between sessions, with DFL's side effects. Returns what was reset.

    Architecture options cannot change. Turning pretrain off resets iter to 0 and re-initialises the
    inter(s), as DFL does; lr_dropout/clipgrad/adabelief changes rebuild the optimizers' settings.
    """
    new = new.normalized()
    old = model.options
    changed = [k for k in ARCHITECTURE_KEYS if getattr(old, k) != getattr(new, k)]
    if changed:
        raise UsageError(f"cannot change {', '.join(changed)} of an existing model (DFL fixes them at creation)")
    reset: list[str] = []
    model.options = new
    if old.pretrain and not new.pretrain:
        model.iter = 0
        model.loss_history = []  # DFL's set_iter(0) truncates the history to the iteration
        for name, part in model.net.parts():
            if name.startswith("inter"):
                for m in part.modules():
                    if hasattr(m, "reset_parameters") and m is not part:
                        m.reset_parameters()  # type: ignore[operator]
                reset.append(name)
    if old.adabelief != new.adabelief:  # the other slot type: fresh state for every optimizer
        lr = model.lr
        model.src_dst_opt = _optimizer(new, _saehd_variables(model.net), "src_dst_opt", lr)
        if model.gan is not None:
            model.gan_opt = _optimizer(new, dfl_variables(model.gan, GAN_SCOPE), "GAN_opt", lr)
        if model.code_discriminator is not None:
            model.code_discriminator_opt = _optimizer(
                new, dfl_variables(model.code_discriminator, CODE_DISCRIMINATOR_SCOPE), "D_code_opt", lr)
        reset += [name for name, _ in model.optimizer_parts()]
    for opt in [o for _, o in model.optimizer_parts()]:
        opt.lr_dropout, opt.lr_cos, opt.clipnorm = new.lr_dropout_keep, new.lr_cos, new.clipnorm
    reset += ensure_side_parts(model)
    set_trainable(model)
    return reset
