"""Where detection weights live on disk.

dlib's models ship in the `face_recognition_models` package; importing it needs `pkg_resources` (gone
from current setuptools), so its folder is found with importlib without importing it.
The insightface `buffalo_l` pack is looked for where insightface keeps it, or in a user-given folder.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from neuface.errors import UsageError

DLIB_FILES = {
    "shape_predictor_68": "shape_predictor_68_face_landmarks.dat",
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn_detector": "mmod_human_face_detector.dat",
}
BUFFALO_FILES = {"detector": "det_10g.onnx", "landmarks": "1k3d68.onnx", "recognition": "w600k_r50.onnx"}
BUFFALO_REQUIRED = ("detector", "landmarks")


def dlib_models_dir() -> Path:
    """The `models/` folder of the installed face_recognition_models package."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        d = Path(loc) / "models"
        if d.is_dir():
            return d
    raise UsageError("dlib landmark weights not found: pip install face-recognition-models")


def dlib_model(kind: str) -> Path:
    """Path of one dlib model file (`shape_predictor_68`, `recognition`, `cnn_detector`)."""
    path = dlib_models_dir() / DLIB_FILES[kind]
    if not path.is_file():
        raise UsageError(f"{path}: missing dlib model file (reinstall face-recognition-models)")
    return path


def insightface_home() -> Path:
    """insightface's own cache (`$INSIGHTFACE_HOME` or `~/.insightface`)."""
    return Path(os.environ.get("INSIGHTFACE_HOME") or Path.home() / ".insightface")


def buffalo_candidates(models_dir: Path | None = None) -> list[Path]:
    """Folders that may hold the buffalo_l ONNX files, in the order they are tried."""
    out: list[Path] = []
    if models_dir is not None:
        out += [Path(models_dir), Path(models_dir) / "buffalo_l", Path(models_dir) / "models" / "buffalo_l"]
    out.append(insightface_home() / "models" / "buffalo_l")
    return out


def find_buffalo(models_dir: Path | None = None) -> Path | None:
    """The first folder holding the detector and landmark ONNX files, or None."""
    for d in buffalo_candidates(models_dir):
        if all((d / BUFFALO_FILES[k]).is_file() for k in BUFFALO_REQUIRED):
            return d
    return None


def require_buffalo(models_dir: Path | None = None) -> Path:
    """Like find_buffalo but a one-line error saying where to put the files when absent."""
    found = find_buffalo(models_dir)
    if found is None:
        where = buffalo_candidates(models_dir)[-1] if models_dir is None else Path(models_dir)
        files = ", ".join(BUFFALO_FILES[k] for k in BUFFALO_REQUIRED)
        raise UsageError(f"insightface buffalo_l pack not found: put {files} (and w600k_r50.onnx for identity) "
                         f"in {where} (or pass --models DIR), or use --backend dlib")
    return found
