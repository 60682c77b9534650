"""CPBD sharpness ("cumulative probability of blur detection", Narvekar & Karam 2011), as DFL scores faces.

`sort --by blur` and `final` rank faces by this number, so it must reproduce DFL's variant
(dfl-formats.md §5.3): Canny edges pick the 64×64 edge blocks, a thinned Sobel map picks the pixels whose
Marziliano edge width is measured along the row, and the score is the fraction of edge pixels whose blur
probability rounds to at most 0.63. The per-pixel walks of the reference are done here with run lengths
over whole rows, which gives the same widths without a Python loop per pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

BLOCK = 64
EDGE_BLOCK_FRACTION = 0.002
BETA = 3.6
MAX_WALK = 100  # a walk stops after 101 steps: the width is capped at 101 per side
# Sobel kernel for the horizontal gradient (the transpose of skimage's HSOBEL_WEIGHTS), unit absolute sum.
_SOBEL_X = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8.0


def _thin(strength: np.ndarray) -> np.ndarray:
    """Keep pixels that are a strict local maximum horizontally or vertically (zero beyond the border)."""
    pad = np.pad(strength, 1)
    centre = pad[1:-1, 1:-1]
    horiz = (centre > pad[1:-1, :-2]) & (centre > pad[1:-1, 2:])
    vert = (centre > pad[:-2, 1:-1]) & (centre > pad[2:, 1:-1])
    return horiz | vert


def sobel_edges(image: np.ndarray) -> np.ndarray:
    """Thinned vertical-edge map: squared Sobel response above 2·√mean, local maxima only."""
    from scipy import ndimage  # imported here: workers of other methods start faster without scipy

    strength = np.square(ndimage.convolve(image, _SOBEL_X))
    strength[strength <= 2.0 * np.sqrt(np.mean(strength))] = 0
    return _thin(strength)


def _runs_back(cond: np.ndarray) -> np.ndarray:
    """For each column i, how many consecutive columns i, i-1, ... satisfy `cond` (per row)."""
    idx = np.arange(cond.shape[1])
    last_false = np.maximum.accumulate(np.where(cond, -1, idx), axis=1)
    return idx - last_false


def _runs_forward(cond: np.ndarray) -> np.ndarray:
    """For each column i, how many consecutive columns i, i+1, ... satisfy `cond` (per row)."""
    return _runs_back(cond[:, ::-1])[:, ::-1]


def _side_width(runs: np.ndarray, cols: np.ndarray, rows: np.ndarray, offset: int) -> np.ndarray:
    """Width of one side of an edge: 1 + the monotone run starting `offset` columns away (capped)."""
    start = cols + offset
    valid = (start >= 0) & (start < runs.shape[1])
    run = np.where(valid, runs[rows, np.clip(start, 0, runs.shape[1] - 1)], 0)
    return np.minimum(run, MAX_WALK) + 1


def marziliano_widths(edges: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Edge width at each horizontal-gradient edge pixel (0 elsewhere), Marziliano et al.'s method.

    From an edge pixel the walk goes left and right along the row while the intensity keeps changing in
    the edge's direction; the width is the sum of both walks. Only edges whose gradient angle, rounded to
    45°, is 0° (dark-to-bright) or ±180° (bright-to-dark) are measured.
    """
    h, w = image.shape
    widths = np.zeros(image.shape)
    gy, gx = np.gradient(image)
    angles = np.zeros(image.shape)
    nz = gx != 0
    angles[nz] = np.arctan2(gy[nz], gx[nz]) * (180 / np.pi)
    # The reference leaves the angle 0 where gx == 0, except the (never met) case gy == π/2 → 90°.
    angles[(~nz) & (gy == np.pi / 2)] = 90
    if not np.any(angles) or w < 3 or h < 3:
        return widths
    quant = 45 * np.round(angles / 45)
    inner = np.zeros(image.shape, bool)
    inner[1:-1, 1:-1] = True
    sel = inner & edges.astype(bool)
    falling = sel & ((quant == 180) | (quant == -180))
    rising = sel & (quant == 0)
    diff = image[:, 1:] - image[:, :-1]  # diff[:, i] = image[:, i+1] - image[:, i]
    for mask, cond in ((falling, diff < 0), (rising, diff > 0)):
        rows, cols = np.nonzero(mask)
        if rows.size == 0:
            continue
        # Left walk compares pixels col-2-m and col-1-m, i.e. diff[col-2-m]; right walk diff[col+1+m].
        left = _side_width(_runs_back(cond), cols, rows, -2)
        right = _side_width(_runs_forward(cond), cols, rows, 1)
        widths[rows, cols] = left + right
    return widths


def _score(image: np.ndarray, canny: np.ndarray, widths: np.ndarray) -> float:
    h, w = image.shape
    hist = np.zeros(101)
    total = 0
    for by in range(h // BLOCK):
        for bx in range(w // BLOCK):
            rs, cs = slice(by * BLOCK, (by + 1) * BLOCK), slice(bx * BLOCK, (bx + 1) * BLOCK)
            if np.count_nonzero(canny[rs, cs]) <= BLOCK * BLOCK * EDGE_BLOCK_FRACTION:
                continue
            block_widths = widths[rs, cs]
            block_widths = block_widths[block_widths != 0]
            block = image[rs, cs]
            jnb = 5.0 if int(np.max(block) - np.min(block)) <= 50 else 3.0
            prob = 1 - np.exp(-np.abs(block_widths / jnb) ** BETA)
            hist += np.bincount(np.round(prob * 100).astype(np.int64), minlength=101)
            total += prob.size
    if total > 0:
        hist = hist / total
    return float(np.sum(hist[:64]))


def estimate_sharpness(image: np.ndarray) -> float:
    """CPBD sharpness of a BGR or grey uint8 image: higher is sharper, 0 when no edge block is found."""
    from skimage.feature import canny

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.shape[2] > 1 else image[..., 0]
    grey = image.astype(np.float64)
    return _score(grey, canny(grey), marziliano_widths(sobel_edges(grey), grey))
