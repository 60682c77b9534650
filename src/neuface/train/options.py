"""SAEHD's model options (`SAEHDOptions`) and one training run's options (`TrainOptions`).

`SAEHDOptions`: DFL's keys, defaults, clamps, stored order and stored value types. DFL stores the options
dict in data.dat in insertion order (dfl-formats.md §8.3) and some values as numpy scalars because they
went through `np.clip`; DFL's trainer reads them back as-is, so we write the same types. Architecture
options are fixed when a model is created (DFL asks them on the first run only); the others may change
between sessions.

`TrainOptions`: `neuface train`'s flags, `[train]` in neuface.toml and `neuface run`'s train step, declared
once (neuface.optionspec). Its SAEHD options are None unless given, so a flag always means "change this".
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neuface.dfl.facetype import DEFAULT_FACE_TYPE, MODEL_CODES
from neuface.errors import UsageError
from neuface.optionspec import StageOptions, option
from neuface.train.archi import Archi, parse_archi

if TYPE_CHECKING:
    from neuface.train.engine import TrainRun

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
        if face_type not in MODEL_CODES:  # stored options hold the short code, as DFL's do
            raise UsageError(f"face_type {self.face_type!r}: expected one of {', '.join(MODEL_CODES)}")
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
            **{f.name: bool(getattr(self, f.name)) for f in fields(self) if f.type == "bool"},  # the switches
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
        values = {k: v.item() if isinstance(v, np.generic) else v for k, v in d.items() if k in known}
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


# ---- `neuface train`'s options (the CLI flags, `[train]` in neuface.toml, `neuface run`'s train step) ----------

_ARCH = "Architecture (fixed once the model exists)"
_TRAIN = "Training options (can change between runs)"
_RUN = "Run control"
_XSEG = "XSeg (with --kind xseg)"


def _dfl_default(key: str) -> str:
    """SAEHDOptions' default of `key` as the help shows it: on/off, 0 rather than 0.0, 5e-05."""
    value = getattr(SAEHDOptions, key)
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _model(key: str, help: str | None = None, **spec: Any) -> Any:  # noqa: A002
    """A SAEHD option as a flag: None (keep the model's stored value, or DFL's default for a new model),
    with that default in the help; an on/off pair for a bool, in its architecture or training panel."""
    flag = key.replace("_", "-")
    flags = f"--{flag}/--no-{flag}" if isinstance(getattr(SAEHDOptions, key), bool) else ()
    spec.setdefault("default_text", _dfl_default(key))
    return option(None, help=help, flags=flags, panel=_ARCH if key in ARCHITECTURE_KEYS else _TRAIN, **spec)


@dataclass(frozen=True)
class TrainOptions(StageOptions):
    """One `neuface train` run. SAEHD options left None keep the model's stored value (an existing model) or
    DFL's default (a new one), so a flag always means "change this"."""

    STAGE = "train"

    kind: str = option("saehd", panel=_RUN, help="What to train: saehd or xseg (XSeg uses --face-type, "
                       "--batch-size, --pretrain, --seed, --target-iter and the XSeg options).")
    name: str | None = option(None, panel=_RUN, help="Model name (DFL's <name>_SAEHD). Default: the most recently "
                              "saved SAEHD model in workspace/model, else 'new'.")
    archi: str | None = _model("archi", "df|liae[-udtc].")
    resolution: int | None = _model("resolution", "Face resolution, 64..640 (multiple of 16, or 32 for -d).")
    face_type: str | None = _model("face_type", f"{'|'.join(MODEL_CODES)} or DFL's full names.",
                                   default_text=DEFAULT_FACE_TYPE.short_name)
    ae_dims: int | None = _model("ae_dims")
    e_dims: int | None = _model("e_dims")
    d_dims: int | None = _model("d_dims")
    d_mask_dims: int | None = _model("d_mask_dims", default_text="d_dims/3, even")
    batch_size: int | None = _model("batch_size", "Global batch (split over GPUs).", default_text="4 on CPU, else 8")
    masked_training: bool | None = _model("masked_training")
    eyes_mouth_prio: bool | None = _model("eyes_mouth_prio")
    uniform_yaw: bool | None = _model("uniform_yaw")
    blur_out_mask: bool | None = _model("blur_out_mask")
    random_warp: bool | None = _model("random_warp")
    random_src_flip: bool | None = _model("random_src_flip")
    random_dst_flip: bool | None = _model("random_dst_flip")
    lr: float | None = option(None, help="Learning rate.", default_text=f"{LEARNING_RATE:g}", panel=_TRAIN)
    lr_dropout: str | None = _model("lr_dropout", f"{'|'.join(LR_DROPOUT)}.")
    clipgrad: bool | None = _model("clipgrad")
    gan_power: float | None = _model("gan_power", "0..5.")
    gan_patch_size: int | None = _model("gan_patch_size", default_text="resolution/8")
    gan_dims: int | None = _model("gan_dims")
    true_face_power: float | None = _model("true_face_power", "df only, 0..1.")
    face_style_power: float | None = _model("face_style_power", "0..100.")
    bg_style_power: float | None = _model("bg_style_power", "0..100.")
    ct_mode: str | None = _model("ct_mode", f"{'|'.join(CT_MODES)}.")
    random_hsv_power: float | None = _model("random_hsv_power", "0..0.3.")
    adabelief: bool | None = _model("adabelief")
    pretrain: bool | None = _model("pretrain")
    write_preview_history: bool | None = _model("write_preview_history")
    autobackup_hour: int | None = _model("autobackup_hour", "Backup every N hours of training, 0 = off.")
    seed: int | None = option(None, help="Random seed of a new model (data order, init).", default_text="random",
                              panel=_TRAIN)
    backup_every: int = option(0, help="Backup + verified .dfm every N iterations (0 = off).", panel=_RUN)
    target_iter: int | None = option(None, help="Save, export and stop at this iteration (0 = train until "
                                     "interrupted).", panel=_RUN)
    save_every_min: float = option(25.0, help="Save every M minutes.", panel=_RUN)
    preview_every_min: float = option(5.0, help="Write preview images every M minutes.", panel=_RUN)
    consent: str | None = option(None, help="Statement that the people in the facesets agreed; stored in the "
                                 "model and every .dfm.", panel=_RUN)
    reset_iter: bool = option(False, flags="--reset-iter", panel=_RUN,
                              help="Train a copy of a pretrained model ('NAME reset') from iteration 0 for a new "
                                   "face; the original files stay unchanged.")
    pretrained: Path | None = option(None, show_default=False, panel=_RUN,
                                     help="Start a new model for this face from a pretrained DFL SAEHD model: its "
                                          "folder or the zip you downloaded (read in place, never written). Its "
                                          "weights and architecture, iteration 0; a later run continues the new "
                                          "model.")
    compile: bool = option(False, flags="--compile/--no-compile", panel=_RUN,
                           help="torch.compile the networks (a minute or more to start, faster steps on GPU; falls "
                                "back to eager when the toolchain is missing).")
    workers: int | None = option(None, help="Data loader processes.", default_text="by device", panel=_RUN)
    labels_from: Path | None = option(None, panel=_XSEG, help="--kind xseg: mask images named like the faces "
                                      "(white = face), used as labels; the faces' files are not changed.")
    init_from: Path | None = option(None, panel=_XSEG, help="--kind xseg: fine-tune a new XSeg model from these "
                                    "weights (a folder with XSeg_256.npy, or GenericXSeg.zip).")

    def saehd_overrides(self) -> dict[str, Any]:
        """The SAEHD options this run sets (the rest keep the model's values, or DFL's defaults)."""
        keys = set(SAEHDOptions.keys())
        return {k: v for k, v in dataclasses.asdict(self).items() if k in keys and v is not None}

    def train_run(self) -> TrainRun:
        """What the SAEHD trainer is asked for (its `TrainRun`)."""
        from neuface.train.engine import TrainRun

        return TrainRun(name=self.name, overrides=self.saehd_overrides(), lr=self.lr, seed=self.seed,
                        backup_every=self.backup_every, save_every_min=self.save_every_min,
                        preview_every_min=self.preview_every_min, consent=self.consent, reset_iter=self.reset_iter,
                        pretrained=self.pretrained, compile=self.compile, workers=self.workers)
