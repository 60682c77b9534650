"""Per-face colour and detail adjustments of DFL's merger that `imaging.color_transfer` does not cover.

`hist_match`: DFL's `hist-match` modes, per-channel histogram matching of the predicted face to the dst
crop; the source quantiles are scaled by threshold/255, so a threshold below 255 keeps highlights from
being pushed to the reference's brightest values. Masked, everything outside the face is white in both
images, as DFL does, so the background does not steer the match.
`blur_sharpen`: DFL's blur/sharpen post-effect (unsharp mask for positive amounts, blur for negative).
"""

from __future__ import annotations

import cv2
import numpy as np

from neuface.imaging.color_transfer import color_transfer


def _match_channel(src: np.ndarray, ref: np.ndarray, threshold: int) -> np.ndarray:
    s = np.clip(np.rint(src.ravel() * 255), 0, 255).astype(np.int32)
    r = np.clip(np.rint(ref.ravel() * 255), 0, 255).astype(np.int32)
    s_counts = np.bincount(s, minlength=256).astype(np.float64)
    r_counts = np.bincount(r, minlength=256).astype(np.float64)
    s_q = np.cumsum(s_counts) / max(s_counts.sum(), 1.0) * (threshold / 255.0)
    r_q = np.cumsum(r_counts) / max(r_counts.sum(), 1.0)
    levels = np.arange(256, dtype=np.float64)
    present = r_counts > 0
    # Each source level -> the reference level with the same cumulative share.
    lut = np.interp(s_q, r_q[present], levels[present]) / 255.0
    return lut[s].reshape(src.shape).astype(np.float32)


def hist_match(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None,
               threshold: int = 255) -> np.ndarray:
    """`image` (H,W,3) float32 0..1 with each channel's histogram matched to `reference`'s."""
    if mask is not None:
        m = np.asarray(mask, np.float32).reshape(image.shape[:2] + (1,))
        image = np.minimum(image * m + (1.0 - m), 1.0)
        reference = np.minimum(reference * m + (1.0 - m), 1.0)
    return np.stack([_match_channel(image[..., c], reference[..., c], threshold) for c in range(image.shape[2])],
                    axis=-1)


def blur_sharpen(image: np.ndarray, amount: int) -> np.ndarray:
    """amount in -100..100: > 0 unsharp mask (3x3 Gaussian) of that strength in %, < 0 blends toward a 5x5 blur."""
    if amount == 0:
        return image
    if amount > 0:
        blurred = cv2.GaussianBlur(image, (3, 3), 0)
        s = amount / 100.0
        return np.clip(image * (1.0 + s) - blurred * s, 0.0, 1.0)
    t = min(-amount, 100) / 100.0
    return image * (1.0 - t) + cv2.GaussianBlur(image, (5, 5), 0) * t


def transfer(mode: str, image: np.ndarray, reference: np.ndarray, area: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """The merger's colour transfer on a face crop; `area` is the binary work mask (DFL's `mask > 0`)."""
    if mode == "none":
        return image
    if mode == "rct" and not (area >= 0.5).any():
        return image  # no statistics to match (DeepFaceLive would produce invalid colours here)
    return color_transfer(mode, image, reference, mask=area, rng=rng)
