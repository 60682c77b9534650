"""`identity` (beyond DFL): rank faces by distance from the faceset's dominant identity, strangers last.

Manual cleanup's "another person's face" case is what no DFL method finds. `detect` stores an L2-normalised
identity vector in each face's metadata (`extra["neuface_identity"]`); faces without one get it computed
from the aligned image and its landmarks by `neuface.detect.identity.compute_identity_embedding` (dlib's
128-d ResNet), the same function detect uses. The dominant identity is found without a distance threshold:
start from the mean of all vectors and repeatedly re-centre on the closest half, so a minority of other
people cannot pull the centre towards them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from neuface.detect import IDENTITY_KEY, compute_identity_embedding
from neuface.sort.faces import Face
from neuface.sort.order import Plan

RECENTRE_ROUNDS = 5
CORE_FRACTION = 0.5


def stored_embedding(meta: Any) -> np.ndarray | None:
    """The identity vector `detect` stored, as float32, or None."""
    value = (getattr(meta, "extra", None) or {}).get(IDENTITY_KEY)
    if value is None:
        return None
    vec = np.asarray(value, dtype=np.float32).reshape(-1)
    return vec if vec.size and np.all(np.isfinite(vec)) else None


def face_embedding(face: Face) -> np.ndarray | None:
    """Stored identity vector, else one computed from the aligned face; None for non-DFL files."""
    meta = face.meta
    if meta is None:
        return None
    vec = stored_embedding(meta)
    if vec is not None:
        return vec
    # detect's own function, so a computed vector equals the one `detect` would have stored
    vec = compute_identity_embedding(face.image, face.landmarks)
    return None if vec is None else np.asarray(vec, dtype=np.float32)


def dominant_centre(vectors: np.ndarray) -> np.ndarray:
    """Centre of the largest identity: the mean of the closest half, re-centred a few times."""
    centre = vectors.mean(axis=0)
    keep = max(1, int(np.ceil(len(vectors) * CORE_FRACTION)))
    for _ in range(RECENTRE_ROUNDS):
        dist = np.linalg.norm(vectors - centre, axis=1)
        core = np.argsort(dist, kind="stable")[:keep]
        new = vectors[core].mean(axis=0)
        if np.allclose(new, centre):
            break
        centre = new
    return centre


def identity_order(embeddings: Sequence[np.ndarray | None]) -> Plan:
    """Closest to the dominant identity first; faces without a vector (non-DFL files) at the very end."""
    have = [i for i, e in enumerate(embeddings) if e is not None]
    scores: list[float | None] = [None] * len(embeddings)
    if have:
        dims = {int(np.asarray(embeddings[i]).size) for i in have}
        if len(dims) > 1:
            # Vectors from different recognition models cannot be compared: use the most common kind.
            common = max(dims, key=lambda d: sum(int(np.asarray(embeddings[i]).size) == d for i in have))
            have = [i for i in have if np.asarray(embeddings[i]).size == common]
        vecs = np.stack([np.asarray(embeddings[i], dtype=np.float64).reshape(-1) for i in have])
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = vecs / np.where(norms > 0, norms, 1.0)
        dist = np.linalg.norm(vecs - dominant_centre(vecs), axis=1)
        for i, d in zip(have, dist, strict=True):
            scores[i] = float(d)
    ranked = sorted((i for i in range(len(embeddings)) if scores[i] is not None), key=lambda i: scores[i])
    rest = [i for i in range(len(embeddings)) if scores[i] is None]
    return Plan(ranked + rest, [], scores)
