"""SAEHD options: DFL's keys, defaults, clamps, stored order and stored value types.

DFL stores the options dict in data.dat in insertion order (dfl-formats.md §8.3) and some values as
numpy scalars because they went through `np.clip`; DFL's trainer reads them back as-is, so we write
the same types. Architecture options are fixed when a model is created (DFL asks them on the first run
only); the others may change between sessions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from neuface.errors import UsageError
from neuface.train.archi import Archi, parse_archi

FACE_TYPES = ("h", "mf", "f", "wf", "head")
LR_DROPOUT = ("n", "y", "cpu")
CT_MODES = ("none", "rct", "lct", "mkl", "idt", "sot")
# Options DFL only asks on a model's first run.
ARCHITECTURE_KEYS = ("resolution", "face_type", "archi", "ae_dims", "e_dims", "d_dims", "d_mask_dims")
INT64_KEYS = ("resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "gan_patch_size")
FLOAT64_KEYS = ("random_hsv_power", "face_style_power", "bg_style_power", "gan_power")
LEARNING_RATE = 5e-5  # hard-coded in DFL's SAEHD


def _even(x: int) -> int:
    return x + x % 2


@dataclass(frozen=True)
class SAEHDOptions:
    """Every SAEHD option in DFL's stored order, with DFL's first-run defaults (CPU batch size)."""

    resolution: int = 128
    face_type: str = "f"
    models_opt_on_gpu: bool = True
    archi: str = "liae-ud"
    ae_dims: int = 256
    e_dims: int = 64
    d_dims: int = 64
    d_mask_dims: int = 22
    masked_training: bool = True
    eyes_mouth_prio: bool = False
    uniform_yaw: bool = False
    blur_out_mask: bool = False
    adabelief: bool = True
    lr_dropout: str = "n"
    random_warp: bool = True
    random_hsv_power: float = 0.0
    true_face_power: float = 0.0
    face_style_power: float = 0.0
    bg_style_power: float = 0.0
    ct_mode: str = "none"
    clipgrad: bool = False
    pretrain: bool = False
    autobackup_hour: int = 0
    write_preview_history: bool = False
    target_iter: int = 0
    random_src_flip: bool = False
    random_dst_flip: bool = True
    batch_size: int = 4
    gan_power: float = 0.0
    gan_patch_size: int = 0  # 0 = DFL's default resolution // 8
    gan_dims: int = 16

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def replace(self, **changes: Any) -> SAEHDOptions:
        unknown = set(changes) - set(self.keys())
        if unknown:
            raise UsageError(f"unknown SAEHD option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes).normalized()

    def normalized(self) -> SAEHDOptions:
        """Apply DFL's clamps and roundings; reject values DFL's prompts would not accept."""
        a = parse_archi(self.archi)
        res = int(np.clip((int(self.resolution) // 16) * 16, 64, 640))
        if a.d:
            res = int(np.clip((res // 32) * 32, 64, 640))
        if a.t and res % 32:
            raise UsageError(f"archi {self.archi}: resolution must be a multiple of 32 (got {res})")
        face_type = str(self.face_type).lower()
        if face_type not in FACE_TYPES:
            raise UsageError(f"face_type {self.face_type!r}: expected one of {', '.join(FACE_TYPES)}")
        lr_dropout = {True: "y", False: "n"}.get(self.lr_dropout, self.lr_dropout)  # type: ignore[call-overload]
        if lr_dropout not in LR_DROPOUT:
            raise UsageError(f"lr_dropout {self.lr_dropout!r}: expected one of {', '.join(LR_DROPOUT)}")
        ct_mode = str(self.ct_mode).lower()
        if ct_mode not in CT_MODES:
            raise UsageError(f"ct_mode {self.ct_mode!r}: expected one of {', '.join(CT_MODES)}")
        gps = int(self.gan_patch_size) or res // 8
        return dataclasses.replace(
            self,
            resolution=res, face_type=face_type, archi=str(a), lr_dropout=lr_dropout, ct_mode=ct_mode,
            ae_dims=int(np.clip(int(self.ae_dims), 32, 1024)),
            e_dims=_even(int(np.clip(int(self.e_dims), 16, 256))),
            d_dims=_even(int(np.clip(int(self.d_dims), 16, 256))),
            d_mask_dims=_even(int(np.clip(int(self.d_mask_dims), 16, 256))),
            random_hsv_power=float(np.clip(float(self.random_hsv_power), 0.0, 0.3)),
            true_face_power=float(np.clip(float(self.true_face_power), 0.0, 1.0)) if a.type == "df" else 0.0,
            face_style_power=float(np.clip(float(self.face_style_power), 0.0, 100.0)),
            bg_style_power=float(np.clip(float(self.bg_style_power), 0.0, 100.0)),
            gan_power=float(np.clip(float(self.gan_power), 0.0, 5.0)),
            gan_patch_size=int(np.clip(gps, 3, 640)),
            gan_dims=int(np.clip(int(self.gan_dims), 4, 512)),
            autobackup_hour=max(0, min(24, int(self.autobackup_hour))),
            target_iter=max(0, int(self.target_iter)),
            batch_size=max(1, int(self.batch_size)),
            masked_training=bool(self.masked_training), eyes_mouth_prio=bool(self.eyes_mouth_prio),
            uniform_yaw=bool(self.uniform_yaw), blur_out_mask=bool(self.blur_out_mask),
            adabelief=bool(self.adabelief), random_warp=bool(self.random_warp), clipgrad=bool(self.clipgrad),
            pretrain=bool(self.pretrain), models_opt_on_gpu=bool(self.models_opt_on_gpu),
            write_preview_history=bool(self.write_preview_history),
            random_src_flip=bool(self.random_src_flip), random_dst_flip=bool(self.random_dst_flip),
        )

    @classmethod
    def default(cls, d_dims: int = 64, **changes: Any) -> SAEHDOptions:
        """DFL's defaults; d_mask_dims follows d_dims (d_dims//3 made even) unless given."""
        changes.setdefault("d_mask_dims", _even(int(d_dims) // 3))
        return cls(d_dims=d_dims, **changes).normalized()

    # ---- DFL's data.dat form ------------------------------------------------------------------
    def to_dfl(self) -> dict[str, Any]:
        """The options dict exactly as DFL stores it: keys, order and value types."""
        o = self.normalized()
        out: dict[str, Any] = {}
        for key in self.keys():
            value = getattr(o, key)
            if key in INT64_KEYS:
                value = np.int64(value)
            elif key in FLOAT64_KEYS:
                value = np.float64(value)
            elif key == "true_face_power":
                value = np.float64(value) if o.archi_parsed.type == "df" else float(value)
            elif key == "gan_dims":
                value = np.int64(value) if o.gan_power != 0 else int(value)
            out[key] = value
        return out

    @classmethod
    def from_dfl(cls, d: dict[str, Any]) -> tuple[SAEHDOptions, list[str]]:
        """Options from a data.dat dict; missing keys take DFL's defaults. Returns (options, ignored keys)."""
        known = set(cls.keys())
        values: dict[str, Any] = {}
        for key, value in d.items():
            if key in known:
                values[key] = value.item() if isinstance(value, np.generic) else value
        ignored = [k for k in d if k not in known]
        if "d_dims" in values and "d_mask_dims" not in values:
            values["d_mask_dims"] = _even(int(values["d_dims"]) // 3)
        return cls(**values).normalized(), ignored

    # ---- derived training switches (what SAEHD's on_initialize computes) -----------------------
    @property
    def archi_parsed(self) -> Archi:
        return parse_archi(self.archi)

    @property
    def effective_random_warp(self) -> bool:
        return self.random_warp and not self.pretrain

    @property
    def effective_gan_power(self) -> float:
        return 0.0 if self.pretrain else float(self.gan_power)

    @property
    def effective_true_face_power(self) -> float:
        """True-face G term: kept in pretrain (only the discriminator's training stops)."""
        return float(self.true_face_power) if self.archi_parsed.type == "df" else 0.0

    @property
    def lr_dropout_keep(self) -> float:
        """AdaBelief/RMSprop update keep-probability: 0.3 with lr_dropout y/cpu (not in pretrain), else 1."""
        return 0.3 if self.lr_dropout in ("y", "cpu") and not self.pretrain else 1.0

    @property
    def lr_cos(self) -> int:
        return 500 if self.lr_dropout_keep != 1.0 else 0

    @property
    def clipnorm(self) -> float:
        return 1.0 if self.clipgrad else 0.0

    def show_overrides(self) -> dict[str, Any]:
        """Values DFL's summary shows instead of the stored ones while pretraining."""
        if not self.pretrain:
            return {}
        return {"lr_dropout": "n", "random_warp": False, "gan_power": 0.0, "random_hsv_power": 0.0,
                "face_style_power": 0.0, "bg_style_power": 0.0, "uniform_yaw": True}
