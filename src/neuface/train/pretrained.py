"""Pretrained SAEHD models as users get them: a DFL model folder, or the zip they download, read in place.

DFL's live-model workflow starts every new face from one pretrained model (`pretrained_model.zip` unzipped
into `workspace/model`, then "reset iteration" and train). `neuface train --pretrained PATH` does that in one
step without unzipping or copying: the zip's members are read straight into memory through the restricted
unpickler, and nothing is ever written to PATH. The new model is written to the workspace's model folder.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from neuface.errors import ModelFormatError, UsageError
from neuface.train.model_folder import MODEL_CLASS, ModelFiles, ModelRef, list_models

DATA_SUFFIX = f"_{MODEL_CLASS}_data.dat"
# Where a model folder may keep its model: the folder itself, or a `model/` inside it (an unzipped workspace).
FOLDER_CANDIDATES = (".", "model", "workspace/model")


class ZipModelFiles(ModelFiles):
    """One model's files inside an open zip (any folder depth), read member by member."""

    def __init__(self, archive: zipfile.ZipFile, zip_path: Path, prefix: str, name: str):
        super().__init__(ModelRef(Path(prefix or "."), name))
        self.archive, self.zip_path, self.prefix = archive, zip_path, prefix

    def member(self, suffix: str) -> str:
        return f"{self.prefix}{self.model_name}_{suffix}"

    def read(self, suffix: str) -> bytes | None:
        try:
            return self.archive.read(self.member(suffix))
        except KeyError:
            return None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
            raise ModelFormatError(f"{self.where(suffix)}: cannot read from the zip: {exc}") from exc

    def where(self, suffix: str) -> str:
        return f"{self.zip_path}:{self.member(suffix)}"


@dataclass(frozen=True)
class Pretrained:
    """The pretrained model PATH holds: its DFL name (without `_SAEHD`) and read access to its files."""

    path: Path
    name: str
    files: ModelFiles

    @property
    def label(self) -> str:
        """How messages and the new model's data.dat name the source."""
        return f"{self.path.name}:{self.name}_{MODEL_CLASS}"


def _pick(path: Path, names: list[str], wanted: str | None) -> str:
    """One model name among those found: the only one, or `wanted`; else a one-line error listing them."""
    if not names:
        raise UsageError(f"{path}: no DFL SAEHD model in it (expected a *{DATA_SUFFIX} file)")
    if wanted is not None and wanted in names:
        return wanted
    if len(names) == 1:
        return names[0]
    raise UsageError(f"{path}: holds {len(names)} SAEHD models ({', '.join(sorted(names))}); name one with "
                     "--name")


def _zip_models(archive: zipfile.ZipFile) -> dict[str, str]:
    """{model name: folder prefix} of the SAEHD models in a zip, autobackups left out."""
    found: dict[str, str] = {}
    for info in archive.infolist():
        member = PurePosixPath(info.filename)
        if info.is_dir() or not member.name.endswith(DATA_SUFFIX) or len(member.name) == len(DATA_SUFFIX):
            continue
        if any(part.endswith("_autobackups") for part in member.parts[:-1]):
            continue
        prefix = "" if str(member.parent) == "." else f"{member.parent}/"
        found.setdefault(member.name[: -len(DATA_SUFFIX)], prefix)
    return found


@contextmanager
def open_pretrained(path: Path, name: str | None = None) -> Iterator[Pretrained]:
    """The pretrained model in a folder or zip (`name` picks one of several), open for reading only."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UsageError(f"--pretrained {path}: no such file or folder")
    if path.is_dir():
        for sub in FOLDER_CANDIDATES:
            refs = list_models(path / sub)
            if refs:
                chosen = _pick(path, [r.name for r in refs], name)
                yield Pretrained(path, chosen, ModelFiles(next(r for r in refs if r.name == chosen)))
                return
        raise UsageError(f"{path}: no DFL SAEHD model in it (expected a *{DATA_SUFFIX} file)")
    if not zipfile.is_zipfile(path):
        raise UsageError(f"--pretrained {path}: not a DFL SAEHD model folder or a zip of one")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UsageError(f"--pretrained {path}: cannot open the zip: {exc}") from exc
    with archive:
        models = _zip_models(archive)
        chosen = _pick(path, list(models), name)
        yield Pretrained(path, chosen, ZipModelFiles(archive, path, models[chosen], chosen))
