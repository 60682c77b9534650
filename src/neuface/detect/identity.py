"""Identity embeddings stored in aligned-face metadata, for `sort --by identity` and filtering.

`detect` stores the vector under the extra metadata key `neuface_identity` (float32, L2-normalised, so
cosine similarity is a dot product) and the model's name under `neuface_identity_model`; DFL ignores both.
Vectors from different models are not comparable: check the model key before comparing.

`compute_identity_embedding` gives the same vector for faces that lack one (e.g. extracted by DFL), from
the aligned image and its aligned-space landmarks: the recognition models align their own chip from the
landmarks, so frame-space and aligned-space inputs agree up to resampling.
"""

from __future__ import annotations

from typing import Any

import numpy as np

IDENTITY_KEY = "neuface_identity"
IDENTITY_MODEL_KEY = "neuface_identity_model"
DEFAULT_IDENTITY_MODEL = "dlib_resnet_v1"

_cache: dict[str, Any] = {}


def _backend_for(model: str):
    """The (cached) backend whose recognition model writes `model` vectors, as the registry says."""
    from neuface.detect.backends import DetectOptions, create_backend, registry

    name = registry.identity_backend_name(model)
    if name not in _cache:
        _cache[name] = create_backend(name, DetectOptions(with_embeddings=True))
    return _cache[name]


def compute_identity_embedding(face_bgr: np.ndarray, landmarks: np.ndarray | None = None,
                               model: str = DEFAULT_IDENTITY_MODEL) -> np.ndarray | None:
    """Identity vector (float32, unit length) of the face in `face_bgr`, or None when no face is found.

    landmarks: the face's 68 points in `face_bgr` pixels (an aligned face's `meta.landmarks`); when None,
    the default identity model's backend finds the face first. model: "dlib_resnet_v1" (128-d, always
    available) or "arcface_w600k_r50" (512-d, needs the insightface buffalo_l pack).
    """
    backend = _backend_for(model)
    if landmarks is None:
        faces = _backend_for(DEFAULT_IDENTITY_MODEL).detect(face_bgr)
        faces = [f for f in faces if f.landmarks is not None]
        if not faces:
            return None
        landmarks = max(faces, key=lambda f: f.area).landmarks
    return backend.embed(face_bgr, np.asarray(landmarks, dtype=np.float64))


def identity_extra(embedding: np.ndarray | None, model: str | None) -> dict[str, Any]:
    """The metadata extra keys for an embedding (empty when there is none)."""
    if embedding is None or model is None:
        return {}
    return {IDENTITY_KEY: np.asarray(embedding, dtype=np.float32), IDENTITY_MODEL_KEY: model}
