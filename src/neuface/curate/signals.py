"""Per-face measurements, one small function per signal; faceset-relative judging is in score.py.

Every face is analysed at ANALYSIS_SIZE px (whatever its stored size), so measures are comparable across
a faceset of mixed resolutions and a face costs the same few milliseconds whether it is 256 or 1024 px.
`measure_face` returns only floats and small arrays, cheap to send back from a worker process.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from neuface.faceset.meta import FaceMeta

ANALYSIS_SIZE = 256
GRID = 6  # occlusion cells per side over the hull's bounding box
BLACK_LEVEL = 4  # pixels this dark that touch the crop border are the warp's outside-the-frame fill
CLIP_LOW, CLIP_HIGH = 6, 249

_predictor: Any = None


def _landmark_predictor() -> Any:
    """dlib's 68-point shape predictor, loaded once per process (the model the dlib backend uses)."""
    global _predictor
    if _predictor is None:
        import dlib

        from neuface.detect import dlib_model

        _predictor = dlib.shape_predictor(str(dlib_model("dlib.landmarks68")))
    return _predictor


def eye_distance(lm: np.ndarray) -> float:
    """Distance between the eye centres (iBUG 36-41, 42-47): the scale landmark errors are judged in."""
    return float(np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0))) or 1.0


HOG_FACE_PX = 110  # the second look runs dlib's HOG detector with the face scaled to about this width


def _hog_box(grey: np.ndarray, lm: np.ndarray) -> Any:
    """dlib's own face box in the landmarks' neighbourhood (None when HOG finds no face there).

    The crop around the landmarks is scaled so the face is HOG_FACE_PX wide: a few milliseconds, where
    the whole 256 px image would cost 5x more.
    """
    import dlib

    (l, t), (r, b) = lm.min(0), lm.max(0)
    w = r - l
    x0, y0 = int(max(0, l - 0.3 * w)), int(max(0, t - 0.3 * w))
    x1, y1 = int(min(grey.shape[1], r + 0.3 * w)), int(min(grey.shape[0], b + 0.3 * w))
    scale = HOG_FACE_PX / max(w, 1.0)
    crop = cv2.resize(grey[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    found = _hog_detector()(crop, 0)
    if not len(found):
        return None
    d = max(found, key=lambda d: d.area())
    return dlib.rectangle(int(d.left() / scale + x0), int(d.top() / scale + y0),
                          int(d.right() / scale + x0), int(d.bottom() / scale + y0))


_hog: Any = None


def _hog_detector() -> Any:
    global _hog
    if _hog is None:
        import dlib

        _hog = dlib.get_frontal_face_detector()
    return _hog


def landmark_disagreement(grey: np.ndarray, lm: np.ndarray) -> float:
    """Offset of a second look at the pixels (dlib's detector box, then its 68-point predictor) from the
    stored landmarks, in eye distances (see rigid_offset).

    Stored landmarks always sit on DFL's template after alignment, even when they were wrong in the frame;
    the pixels then show the real face shifted or turned, and an independent look follows the pixels.
    Where HOG finds no face (a covered face), the predictor starts from the stored landmarks' box.
    """
    import dlib

    box = _hog_box(grey, lm)
    if box is None:
        (l, t), (r, b) = lm.min(0), lm.max(0)
        box = dlib.rectangle(int(l), int(t), int(r), int(b))
    shape = _landmark_predictor()(grey, box)
    found = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    return rigid_offset(lm.astype(np.float64), found)


# Jaw and nose: the points an occluded eye or mouth moves least, so the offset is the face's, not the patch's.
RIGID_POINTS = np.r_[0:17, 27:36]
DEGREES_PER_EYE = 50.0  # a 6 degree turn weighs as much as a shift of 0.12 eye distances


def rigid_offset(stored: np.ndarray, found: np.ndarray) -> float:
    """How far the re-detected face sits from the stored one: centroid shift (eye distances) or turn.

    A similarity fit over jaw and nose points, so a hand over the mouth (which drags the mouth points)
    does not read as a misalignment; the larger of shift and rotation (in eye-distance units) counts.
    """
    from neuface.dfl.align import umeyama

    a, b = stored[RIGID_POINTS], found[RIGID_POINTS]
    shift = float(np.linalg.norm(b.mean(0) - a.mean(0))) / eye_distance(stored)
    mat = umeyama(a, b, True)
    turn = abs(float(np.degrees(np.arctan2(mat[1, 0], mat[0, 0]))))
    return max(shift, turn / DEGREES_PER_EYE)


def shape_residual(lm: np.ndarray) -> float:
    """RMS distance of the landmarks from DFL's mean face after a similarity fit (implausible shapes)."""
    from neuface.dfl.align import LANDMARKS_2D_NEW, TEMPLATE_INDICES, transform_points, umeyama

    pts = lm[TEMPLATE_INDICES].astype(np.float64)
    mat = umeyama(pts, LANDMARKS_2D_NEW, True)[0:2]
    fitted = transform_points(pts, mat)
    return float(np.sqrt(((fitted - LANDMARKS_2D_NEW) ** 2).sum(1).mean()))


def border_black(img: np.ndarray) -> np.ndarray:
    """Bool mask of near-black pixels connected to the crop's border: where the warp read outside the frame."""
    dark = (img.max(axis=2) <= BLACK_LEVEL).astype(np.uint8)
    if not (dark[0].any() or dark[-1].any() or dark[:, 0].any() or dark[:, -1].any()):
        return np.zeros(dark.shape, bool)  # the usual case, without labelling the whole image
    n, labels = cv2.connectedComponents(dark, connectivity=4)
    if n <= 1:
        return np.zeros(dark.shape, bool)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge > 0]
    return np.isin(labels, edge)


def sharpness(grey: np.ndarray, hull: np.ndarray) -> float:
    """log of (11-tap Laplacian variance / grey variance) inside the hull: sort's motion-blur metric, contrast-free."""
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=11)
    inner = cv2.erode(hull.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    vals = lap[inner] if inner.any() else lap.reshape(-1)
    # Laplacian variance grows with contrast squared: divide it out so a dim face is not called blurry.
    grey_var = float(grey[hull].astype(np.float32).var()) if hull.any() else 1.0
    return float(np.log(vals.var() + 1e-6) - np.log(grey_var + 1.0))


def exposure(lab_l: np.ndarray, hull: np.ndarray) -> tuple[float, float, float]:
    """(mean L, std L, clipped share) of the hull: brightness, contrast, blown or crushed pixels."""
    vals = lab_l[hull].astype(np.float32)
    if not vals.size:
        return 0.0, 0.0, 0.0
    clipped = float(((vals <= CLIP_LOW) | (vals >= CLIP_HIGH)).mean())
    return float(vals.mean()), float(vals.std()), clipped


def cell_stats(lab: np.ndarray, grey: np.ndarray, hull: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Per-cell (L, a, b, texture) on a GRID×GRID grid over the landmark box, relative to the whole face.

    Relative to the face's own means, so a darker or blurrier face does not look occluded everywhere;
    what is left is what one region does differently from the rest (a hand, a microphone, a patch).
    Cells mostly outside the hull are NaN.
    """
    l, t = np.floor(lm.min(0)).astype(int)
    r, b = np.ceil(lm.max(0)).astype(int)
    h, w = hull.shape
    l, t, r, b = max(l, 0), max(t, 0), min(r, w), min(b, h)
    out = np.full((GRID * GRID, 4), np.nan, np.float32)
    if r - l < GRID * 2 or b - t < GRID * 2:
        return out
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))
    m = hull.astype(np.float32)
    if not m.any():
        return out
    mean_lab = lab[hull].mean(0)
    mean_tex = np.log(lap[hull].mean() + 1.0)
    # Cell means of masked values by area-averaging: sum(x*m)/sum(m) per cell, in a few vector operations.
    mc = m[t:b, l:r]
    colour = np.ascontiguousarray(lab[t:b, l:r] * mc[:, :, None])
    rest = np.ascontiguousarray(np.dstack([lap[t:b, l:r] * mc, mc]))  # OpenCV area-resizes up to 4 channels
    cells = np.concatenate([cv2.resize(colour, (GRID, GRID), interpolation=cv2.INTER_AREA).reshape(-1, 3),
                            cv2.resize(rest, (GRID, GRID), interpolation=cv2.INTER_AREA).reshape(-1, 2)], axis=1)
    cover = cells[:, 4]
    ok = cover >= 0.6
    denom = np.maximum(cover, 1e-6)[:, None]
    out[ok, :3] = (cells[:, :3] / denom)[ok] - mean_lab
    out[ok, 3] = (np.log(cells[:, 3] / denom[:, 0] + 1.0)[ok] - mean_tex) * 40.0
    return out


def mask_occlusion(meta: FaceMeta, hull: np.ndarray) -> float | None:
    """Share of the landmark hull the stored XSeg mask removes (None without a mask)."""
    mask = meta.get_xseg_mask()
    if mask is None:
        return None
    h, w = hull.shape
    m = cv2.resize(mask.reshape(mask.shape[0], mask.shape[1]), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    area = hull.sum()
    return float((hull & ~m).sum() / area) if area else 0.0


def pose(lm: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees from the aligned landmarks, for the rare-angle rule."""
    from neuface.dfl.landmarks import estimate_pitch_yaw_roll

    pitch, yaw, _ = estimate_pitch_yaw_roll(lm, size=ANALYSIS_SIZE)
    return float(np.degrees(yaw)), float(np.degrees(pitch))


def embedding(meta: FaceMeta, img: np.ndarray, lm: np.ndarray, compute: bool) -> np.ndarray | None:
    """The identity vector detect stored, else (when `compute`) dlib's, as identity sort does."""
    from neuface.sort import stored_embedding

    vec = stored_embedding(meta)
    if vec is None and compute:
        from neuface.detect import compute_identity_embedding

        vec = compute_identity_embedding(img, lm)
    return None if vec is None else np.asarray(vec, np.float32).reshape(-1)


def measure_face(data: bytes, source: str, compute_identity: bool = True) -> dict[str, Any]:
    """All raw measures of one aligned face's file bytes (FacesetFormatError naming `source` if unreadable)."""
    from neuface.dfl.landmarks import get_image_hull_mask
    from neuface.faceset import dfljpg

    meta = dfljpg.parse_bytes(data, source).meta
    full = dfljpg.decode_image(data, source)
    lm_full = np.asarray(meta.landmarks, np.float32)
    scale = ANALYSIS_SIZE / full.shape[1]
    img = cv2.resize(full, (ANALYSIS_SIZE, ANALYSIS_SIZE), interpolation=cv2.INTER_AREA) if scale != 1 else full
    lm = lm_full * scale
    full_hull = get_image_hull_mask(img.shape, lm)[:, :, 0] > 0.5
    outside = border_black(img)
    hull = full_hull & ~outside  # what of the face is in the frame: the other signals judge only that
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    lab = cv2.cvtColor(img, cv2.COLOR_BGR2LAB).astype(np.float32)
    mean_l, std_l, clipped = exposure(lab[:, :, 0], hull)
    yaw, pitch = pose(lm)
    ok68 = lm.shape == (68, 2)
    return {
        "disagreement": landmark_disagreement(grey, lm) if ok68 else float("inf"),
        "shape": shape_residual(lm) if ok68 else float("inf"),
        "cells": cell_stats(lab, grey, hull, lm),
        "mask_occlusion": mask_occlusion(meta, hull),
        "sharpness": sharpness(grey, hull),
        "yaw": yaw, "pitch": pitch,
        "embedding": embedding(meta, full, lm_full, compute_identity),
        "cut": float((outside & full_hull).sum() / max(1, full_hull.sum())),
        "mean_l": mean_l, "std_l": std_l, "clipped": clipped,
    }
