"""RetinaFace (biubug6/Pytorch_Retinaface, mobilenet0.25) pre- and post-processing as plain functions.

The network takes a BGR image minus the per-channel mean (104, 117, 123), NCHW float32, any size; it
returns, for every prior (anchor) box, `loc` (N, 4) box offsets, `conf` (N, 2) softmaxed
(background, face) scores and `landmarks` (N, 10) offsets of 5 points (eyes, nose tip, mouth corners).
Priors: for each stride 8/16/32 a ceil(H/s) x ceil(W/s) grid, row-major, two square sizes per cell
([16, 32], [64, 128], [256, 512] px). Offsets are SSD-style, scaled by the variances 0.1 (centre) and
0.2 (log size). We work in input pixels throughout, which equals biubug6's normalised priors scaled
by (W, H).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from neuface.detect.backends.insightface_backend import nms

MEAN_BGR = (104.0, 117.0, 123.0)
STEPS = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)
NMS_THRESHOLD = 0.4  # biubug6's default
# Inputs are padded up to a multiple of the coarsest stride so every prior cell is whole.
ALIGN = 32
# A box this much covered by two or more better-scored boxes is dropped (`drop_straddling`). Measured on the
# fixture media (43 boxed group faces, no_faces/, every 5th Hamilton frame): the one such box, 0.77
# covered, is a false face straddling two people's half faces; no true face is over 0.3.
STRADDLE_COVER = 0.6


def input_shape(h: int, w: int, size: int) -> tuple[int, int, float]:
    """(input height, input width, scale) for a frame: long side shrunk to `size` (never enlarged), both
    sides padded up to a multiple of 32. Frames of one video share a shape, so a batch is one array.

    Never enlarged: small frames blown up to 640 px gave animal faces (no_faces/ cat, horse, parrot)
    face scores up to 1.0; at their own size none scored above 0.5, and 16 px priors need no upscaling.
    """
    scale = min(1.0, size / max(h, w))
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    return ALIGN * math.ceil(new_h / ALIGN), ALIGN * math.ceil(new_w / ALIGN), scale


def letterbox(image: np.ndarray, in_h: int, in_w: int, scale: float) -> np.ndarray:
    """Resize by `scale`, place top-left on a black (in_h, in_w) canvas (frame px = input px / scale)."""
    import cv2

    h, w = image.shape[:2]
    new_h, new_w = min(in_h, max(1, round(h * scale))), min(in_w, max(1, round(w * scale)))
    out = np.zeros((in_h, in_w, 3), dtype=np.uint8)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=interp)
    return out


def to_blob(images: list[np.ndarray]) -> np.ndarray:
    """BGR uint8 HWC images of one shape -> float32 NCHW minus the BGR mean (the model wants BGR)."""
    arr = np.stack(images).astype(np.float32) - np.array(MEAN_BGR, np.float32)
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))


def priors(in_h: int, in_w: int) -> np.ndarray:
    """(N, 4) prior boxes (cx, cy, w, h) in input pixels, in the network's output order."""
    out = []
    for step, sizes in zip(STEPS, MIN_SIZES, strict=True):
        fh, fw = math.ceil(in_h / step), math.ceil(in_w / step)
        ys, xs = np.mgrid[:fh, :fw]
        centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) + 0.5) * step
        centres = np.repeat(centres, len(sizes), axis=0)
        wh = np.tile(np.array(sizes, np.float32), fh * fw)[:, None].repeat(2, axis=1)
        out.append(np.hstack([centres, wh]))
    return np.concatenate(out).astype(np.float32)


def decode_boxes(loc: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """(N, 4) SSD offsets -> (x1, y1, x2, y2): centre = prior centre + d * 0.1 * prior size,
    size = prior size * exp(d * 0.2)."""
    centre = prior[:, :2] + loc[:, :2] * VARIANCES[0] * prior[:, 2:]
    size = prior[:, 2:] * np.exp(loc[:, 2:] * VARIANCES[1])
    return np.hstack([centre - size / 2, centre + size / 2])


def decode_points(pre: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """(N, 10) offsets -> (N, 5, 2) points: prior centre + d * 0.1 * prior size, per point."""
    d = pre.reshape(len(pre), 5, 2)
    return prior[:, None, :2] + d * VARIANCES[0] * prior[:, None, 2:]


def decode(loc: np.ndarray, conf: np.ndarray, landmarks: np.ndarray, prior: np.ndarray, threshold: float,
           scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """One image's raw outputs -> ((K, 5) x1, y1, x2, y2, score in frame px, (K, 5, 2) points), after
    the score threshold and NMS, best first. `scale`: input px per frame px (from `input_shape`)."""
    scores = conf[:, 1]
    pos = np.where(scores >= threshold)[0]
    if len(pos) == 0:
        return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
    pos = pos[np.argsort(-scores[pos], kind="stable")]
    boxes = decode_boxes(loc[pos], prior[pos]) / scale
    points = decode_points(landmarks[pos], prior[pos]) / scale
    dets = np.hstack([boxes, scores[pos, None]]).astype(np.float32)
    keep = drop_straddling(dets, nms(dets, NMS_THRESHOLD))
    return dets[keep], points[keep].astype(np.float32)


def covered_share(box: np.ndarray, others: list[np.ndarray]) -> float:
    """The share of `box`'s area (l, t, r, b) inside the union of `others`: exact, by cutting the box
    into the cells the rectangles' edges make."""
    l, t, r, b = (float(v) for v in box[:4])
    cut = [(max(o[0], l), max(o[1], t), min(o[2], r), min(o[3], b)) for o in others]
    cut = [c for c in cut if c[2] > c[0] and c[3] > c[1]]
    xs = sorted({l, r, *(c[0] for c in cut), *(c[2] for c in cut)})
    ys = sorted({t, b, *(c[1] for c in cut), *(c[3] for c in cut)})
    cells = [(x0, x1, y0, y1) for x0, x1 in itertools.pairwise(xs) for y0, y1 in itertools.pairwise(ys)]
    inside = sum((x1 - x0) * (y1 - y0) for x0, x1, y0, y1 in cells
                 if any(c[0] <= (x0 + x1) / 2 <= c[2] and c[1] <= (y0 + y1) / 2 <= c[3] for c in cut))
    return inside / ((r - l) * (b - t)) if r > l and b > t else 0.0


def drop_straddling(dets: np.ndarray, order: list[int]) -> list[int]:
    """`order` (indices, best first) without the boxes that sit on two or more better faces at once.

    NMS keeps such a box: its IoU with each face is small (0.24 with both in the measured case), yet it
    is a false face made of two people's half faces, and a swap pasted there lands between them.
    """
    keep: list[int] = []
    for i in order:
        hits = [dets[k] for k in keep if min(dets[i, 2], dets[k, 2]) > max(dets[i, 0], dets[k, 0])
                and min(dets[i, 3], dets[k, 3]) > max(dets[i, 1], dets[k, 1])]
        if len(hits) < 2 or covered_share(dets[i], hits) < STRADDLE_COVER:
            keep.append(i)
    return keep
