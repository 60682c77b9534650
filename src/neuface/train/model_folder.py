"""DFL model folders (`workspace/model/`): find, list, create, load, save and back up SAEHD models.

Files, as DFL names and writes them (dfl-formats.md §8):
  <name>_SAEHD_encoder.npy, _inter_AB.npy, _inter_B.npy, _decoder.npy   (LIAE; DF: _inter, _decoder_src/_dst)
  <name>_SAEHD_src_dst_opt.npy        optimizer state (AdaBelief ms/vs or RMSprop acc, plus iters)
  <name>_SAEHD_GAN.npy, _GAN_opt.npy  when gan_power > 0;  _code_discriminator.npy, _D_code_opt.npy for true face
  <name>_SAEHD_data.dat               {iter, options, loss_history, sample_for_preview, choosed_gpu_indexes}
  <name>_SAEHD_summary.txt            human-readable summary
  <name>_SAEHD_autobackups/01..24/    rolling backups, 01 newest

Everything is read through the restricted unpickler (a data.dat that names any other global is
refused) and written atomically; all temp files are complete before the first rename, so a crash
never leaves a half-written file or a set mixing a new data.dat with old weights' iteration.

neuface-only state lives under the extra top-level data.dat key `"neuface"`: a dict of plain values (the
keys SAEHD keeps: `neuface.train.engine`). DFL reads only its own keys and drops it when it re-saves the model.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuface.atomic import atomic_path, fsync_dir
from neuface.console import warn
from neuface.dfl.safe_pickle import dumps_compat
from neuface.dfl.weights import (
    check_weight_dict,
    encode_weight_dict,
    load_dfl_into,
    module_to_dfl,
    read_pickle_bytes,
    read_pickle_file,
)
from neuface.errors import ModelFormatError, UsageError
from neuface.train.model import CODE_DISCRIMINATOR_SCOPE, GAN_SCOPE, SAEHDModel, build_model, set_trainable
from neuface.train.options import LEARNING_RATE, SAEHDOptions
from neuface.training.summary import DeviceRow, device_rows, summary_text

MODEL_CLASS = "SAEHD"
EXTRA_KEY = "neuface"
DATA_PROTOCOL = 4
MAX_BACKUPS = 24
_PLAIN = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class ModelRef:
    """Where one model's files are: `<folder>/<name>_<class>_<part>`."""

    folder: Path
    name: str
    model_class: str = MODEL_CLASS

    @property
    def model_name(self) -> str:
        """DFL's model name (`new_SAEHD`), shown in the summary; XSeg's is just `XSeg` (no class)."""
        return f"{self.name}_{self.model_class}" if self.model_class else self.name

    def file(self, suffix: str) -> Path:
        return self.folder / f"{self.model_name}_{suffix}"

    def weights_file(self, part: str) -> Path:
        return self.file(f"{part}.npy")

    @property
    def data_file(self) -> Path:
        return self.file("data.dat")

    @property
    def summary_file(self) -> Path:
        return self.file("summary.txt")

    @property
    def autobackups_dir(self) -> Path:
        return self.file("autobackups")

    @property
    def dfm_file(self) -> Path:
        return self.file("model.dfm")

    def exists(self) -> bool:
        return self.data_file.is_file()

    def model_files(self) -> list[Path]:
        """This model's weight, optimizer, data and summary files that exist (what a backup copies)."""
        if not self.folder.is_dir():
            return []
        prefix = f"{self.model_name}_"
        return sorted(p for p in self.folder.iterdir() if p.is_file() and p.name.startswith(prefix)
                      and (p.suffix == ".npy" or p.name in (self.data_file.name, self.summary_file.name)))


def xseg_ref(model_dir: Path) -> ModelRef:
    """DFL's XSeg model folder names: `XSeg_256.npy` (`weights_file("256")`), `XSeg_data.dat`, ..."""
    return ModelRef(Path(model_dir), "XSeg", "")


def dfl_model_name(name: str) -> str:
    """DFL's rule for a new model's name: '_' becomes ' ' (DFL splits file names on the first '_')."""
    clean = str(name).strip().replace("_", " ")
    if not clean or any(ch in clean for ch in "/\\\0") or clean in (".", ".."):
        raise UsageError(f"model name {name!r}: must be non-empty and contain no path separators")
    return clean


def list_models(model_dir: Path) -> list[ModelRef]:
    """SAEHD models in a folder (those with a `<name>_SAEHD_data.dat`), most recently saved first."""
    suffix = f"_{MODEL_CLASS}_data.dat"
    if not Path(model_dir).is_dir():
        return []
    found = sorted((p for p in Path(model_dir).iterdir()
                    if p.is_file() and p.name.endswith(suffix) and len(p.name) > len(suffix)),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    return [ModelRef(Path(model_dir), p.name[: -len(suffix)]) for p in found]


def current_model(model_dir: Path, name: str | None = None) -> ModelRef | None:
    """The model `train` continues: the named one, else the most recently saved (DFL's silent start); None when
    there is none (train creates it)."""
    models = list_models(model_dir)
    if name is None:
        return models[0] if models else None
    return next((r for r in models if r.name in (name, dfl_model_name(name))), None)


def find_model(model_dir: Path, name: str | None = None) -> ModelRef:
    """`current_model` that must exist: the error names what was looked for and what is there."""
    ref = current_model(model_dir, name)
    if ref is not None:
        return ref
    if name is None:
        raise UsageError(f"{model_dir}: no {MODEL_CLASS} model found (expected *_{MODEL_CLASS}_data.dat)")
    known = ", ".join(r.name for r in list_models(model_dir)) or "none"
    raise UsageError(f"{model_dir}: no {MODEL_CLASS} model named {name!r} (found: {known})")


def create_model(model_dir: Path, name: str, options: SAEHDOptions, device: torch.device | str = "cpu",
                 lr: float = LEARNING_RATE) -> tuple[ModelRef, SAEHDModel]:
    """A new, freshly initialised model; nothing is written until `save_model`."""
    ref = ModelRef(Path(model_dir), dfl_model_name(name))
    if ref.model_files():  # data.dat or any other file of that name
        raise UsageError(f"{ref.data_file}: a model named {ref.name!r} already exists")
    return ref, build_model(options, device, lr)


# ---- loading ------------------------------------------------------------------------------------
class ModelFiles:
    """Read access to one model's files by DFL suffix (`data.dat`, `encoder.npy`), wherever they lie.

    This class reads a model folder; `neuface.train.pretrained` adds one that reads a zip in place, so
    loading a pretrained model never copies or writes its files."""

    def __init__(self, ref: ModelRef):
        self.ref = ref

    @property
    def model_name(self) -> str:
        return self.ref.model_name

    def read(self, suffix: str) -> bytes | None:
        """The file's bytes, or None when the model has no such file."""
        path = self.ref.file(suffix)
        if not path.is_file():
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ModelFormatError(f"{path}: cannot read: {exc.strerror}") from exc

    def where(self, suffix: str) -> str:
        """The file's name as errors show it."""
        return str(self.ref.file(suffix))


def read_data_dat(path: Path) -> dict[str, Any]:
    """data.dat as a dict, validated enough that later code cannot trip on a wrong type."""
    return check_data_dat(read_pickle_file(path, "data.dat"), path)


def check_data_dat(data: Any, path: Path | str) -> dict[str, Any]:
    """An unpickled data.dat, checked (and loss_history made floats); errors name `path`."""
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path}: not a DFL data.dat (expected a dict, got {type(data).__name__})")
    it = data.get("iter", 0)
    if not isinstance(it, int | np.integer) or int(it) < 0:
        raise ModelFormatError(f"{path}: 'iter' must be a non-negative integer, got {it!r}")
    if not isinstance(data.get("options", {}), dict):
        raise ModelFormatError(f"{path}: 'options' must be a dict")
    history = data.get("loss_history") or []
    try:
        data["loss_history"] = [[float(x) for x in row] for row in history]
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(f"{path}: 'loss_history' must be a list of lists of numbers") from exc
    if not isinstance(data.get(EXTRA_KEY, {}), dict):
        raise ModelFormatError(f"{path}: '{EXTRA_KEY}' must be a dict")
    return data


def _load_part(files: ModelFiles, part: str, load: Callable[[dict[str, np.ndarray], str], object],
               fresh: str = "") -> None:
    """`load(weights, where)` from `<part>.npy`. Missing, a network part is an error; an optional file
    (optimizer, GAN: `fresh` names it) warns and starts fresh, as DFL re-initialises it."""
    where = files.where(f"{part}.npy")
    blob = files.read(f"{part}.npy")
    if blob is not None:
        load(check_weight_dict(read_pickle_bytes(blob, where), where), where)
    elif fresh:
        warn(f"{Path(where).name} not found: {fresh} starts fresh")
    else:
        raise ModelFormatError(f"{where}: missing weights file for part {part!r}")


def load_model(ref: ModelRef, device: torch.device | str = "cpu", training: bool = True) -> SAEHDModel:
    """Load a DFL (or neuface) SAEHD model folder. Network weights are required and matched strictly;
    optimizer/GAN files are loaded when present (`training`), else start fresh like DFL."""
    return load_model_files(ModelFiles(ref), device, training)


def load_model_files(files: ModelFiles, device: torch.device | str = "cpu", training: bool = True) -> SAEHDModel:
    """`load_model` over any `ModelFiles` (a folder, a zip read in place)."""
    blob = files.read("data.dat")
    if blob is None:
        raise UsageError(f"{files.where('data.dat')}: model {files.ref.name!r} not found")
    data = check_data_dat(read_pickle_bytes(blob, files.where("data.dat"), "data.dat"), files.where("data.dat"))
    options, ignored = SAEHDOptions.from_dfl(data.get("options", {}))
    if ignored:
        warn(f"{Path(files.where('data.dat')).name}: ignoring option(s) this SAEHD does not have: "
             f"{', '.join(ignored)}")
    extra = dict(data.get(EXTRA_KEY) or {})
    lr = float(extra.get("lr", LEARNING_RATE))
    model = build_model(options, device, lr)
    for part, module in model.net.parts():
        _load_part(files, part, partial(load_dfl_into, module, part))
    if training:
        for part, opt in model.optimizer_parts():
            _load_part(files, part, opt.load_dfl, "optimizer state")
        if model.gan is not None:
            _load_part(files, "GAN", partial(load_dfl_into, model.gan, GAN_SCOPE), "GAN discriminator")
        if model.code_discriminator is not None:
            _load_part(files, "code_discriminator", partial(load_dfl_into, model.code_discriminator,
                                                            CODE_DISCRIMINATOR_SCOPE), "true-face discriminator")
    model.iter = int(data.get("iter", 0))
    model.loss_history = data["loss_history"]
    model.sample_for_preview = data.get("sample_for_preview")
    model.extra = extra
    set_trainable(model)
    return model


# ---- saving -------------------------------------------------------------------------------------
def _check_plain(value: Any, where: str) -> None:
    """neuface extras must be plain values DFL's Python 3.6 can unpickle without our code."""
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise UsageError(f"{where}: key {k!r} is not a string")
            _check_plain(v, f"{where}.{k}")
    elif not isinstance(value, _PLAIN):
        raise UsageError(f"{where}: {type(value).__name__} cannot be stored in data.dat (plain values only)")


def data_dat_dict(model: SAEHDModel) -> dict[str, Any]:
    """data.dat's content: DFL's keys first (in DFL's order), then neuface's extra key."""
    extra = {k: v for k, v in model.extra.items() if k != "lr"}  # the rate the optimizer runs at now
    if model.lr != LEARNING_RATE:
        extra["lr"] = float(model.lr)
    _check_plain(extra, EXTRA_KEY)
    data: dict[str, Any] = {
        "iter": int(model.iter),
        "options": model.options.to_dfl(),
        "loss_history": [[float(x) for x in row] for row in model.loss_history],
        "sample_for_preview": model.sample_for_preview,
        "choosed_gpu_indexes": None,
    }
    if extra:
        data[EXTRA_KEY] = extra
    return data


def model_summary(ref: ModelRef, model: SAEHDModel, devices: list[DeviceRow] | None = None) -> str:
    """DFL's summary text; `devices` defaults to the model's own device."""
    shown = {**model.options.to_dfl(), **model.options.show_overrides()}
    rows = device_rows(model.device) if devices is None else devices
    return summary_text(ref.model_name, model.iter, shown, rows)


def save_model(ref: ModelRef, model: SAEHDModel, devices: list[DeviceRow] | None = None) -> list[Path]:
    """Write every file of the model atomically (temp files first, then all renames). Returns the paths."""
    scopes = {"GAN": GAN_SCOPE, "code_discriminator": CODE_DISCRIMINATOR_SCOPE}
    payloads = [(ref.weights_file(part), encode_weight_dict(module_to_dfl(module, scopes.get(part, part))))
                for part, module in model.weight_parts()]
    payloads += [(ref.weights_file(part), encode_weight_dict(opt.state_to_dfl()))
                 for part, opt in model.optimizer_parts()]
    payloads += [(ref.data_file, dumps_compat(data_dat_dict(model), protocol=DATA_PROTOCOL)),
                 (ref.summary_file, model_summary(ref, model, devices).encode("utf-8"))]
    ref.folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:  # contexts exit (rename) only after every temp file is complete
        for path, blob in payloads:
            tmp = stack.enter_context(atomic_path(path))
            tmp.write_bytes(blob)
    return [p for p, _ in payloads]


def backup_model(ref: ModelRef) -> Path:
    """DFL's rolling backup: 24 is dropped, 01..23 move up one, then the current files go into 01."""
    files = ref.model_files()
    if not files:
        raise UsageError(f"{ref.folder}: model {ref.name!r} has no files to back up")
    root = ref.autobackups_dir
    root.mkdir(parents=True, exist_ok=True)
    staging = root / ".incoming"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for f in files:  # copy first: if this fails, the existing backups are untouched
        shutil.copy2(f, staging / f.name)
        with open(staging / f.name, "rb") as fh:
            os.fsync(fh.fileno())
    oldest = root / f"{MAX_BACKUPS:02d}"
    if oldest.exists():
        shutil.rmtree(oldest)
    for i in range(MAX_BACKUPS - 1, 0, -1):
        src = root / f"{i:02d}"
        if src.exists():
            src.rename(root / f"{i + 1:02d}")
    target = root / "01"
    staging.rename(target)
    fsync_dir(root)
    return target
