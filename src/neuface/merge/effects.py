"""Per-face colour and detail adjustments of DFL's merger that `imaging.color_transfer` does not cover.

`hist_match`: DFL's `hist-match` modes, per-channel histogram matching of the predicted face to the dst
crop; the source quantiles are scaled by threshold/255, so a threshold below 255 keeps highlights from
being pushed to the reference's brightest values. Masked, everything outside the face is white in both
images, as DFL does, so the background does not steer the match.
`blur_sharpen`: DFL's blur/sharpen post-effect (`--sharpen-mode gaussian|box` for positive amounts, blur for
negative). `denoise`, `bicubic_degrade` and `reduce_colors` are DFL's other degrade-to-match effects: a sharp
swapped face looks pasted onto a soft, noisy or compressed video, so these make it as bad as its frame.
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


SHARPEN_MODES = ("gaussian", "box")


def blur_sharpen(image: np.ndarray, amount: int, mode: str = "gaussian") -> np.ndarray:
    """amount in -100..100: > 0 sharpens by that % (`gaussian`: unsharp mask with a 3x3 Gaussian; `box`: the
    same against a 3x3 box mean, harsher), < 0 blends toward a 5x5 Gaussian blur."""
    if amount == 0:
        return image
    if amount > 0:
        s = amount / 100.0
        blurred = cv2.blur(image, (3, 3)) if mode == "box" else cv2.GaussianBlur(image, (3, 3), 0)
        return np.clip(image * (1.0 + s) - blurred * s, 0.0, 1.0)
    t = min(-amount, 100) / 100.0
    return image * (1.0 - t) + cv2.GaussianBlur(image, (5, 5), 0) * t


def denoise(image: np.ndarray, power: int) -> np.ndarray:
    """power 0..500: one 5x5 median pass per full 100, the remainder as a partial (blended) pass."""
    out = image
    n = max(0, int(power))
    while n > 0:
        smooth = cv2.medianBlur(out, 5)  # float32 median supports ksize 3 and 5
        t = min(n, 100) / 100.0
        out = smooth if t >= 1.0 else out * (1.0 - t) + smooth * t
        n -= 100
    return out


def bicubic_degrade(image: np.ndarray, power: int) -> np.ndarray:
    """power 0..100: bicubic down to (1 - power/101) of the size and back up, losing that much detail."""
    if power <= 0:
        return image
    h, w = image.shape[:2]
    f = 1.0 - min(int(power), 100) / 101.0
    small = cv2.resize(image, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_CUBIC)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


def reduce_colors(image: np.ndarray, power: int, colors: int = 256) -> np.ndarray:
    """power 0..100: blend toward a `colors`-colour (median cut) version of the image, as 8-bit GIFs look."""
    if power <= 0:
        return image
    from PIL import Image

    u8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    pal = Image.fromarray(np.ascontiguousarray(u8[..., ::-1])).quantize(colors).convert("RGB")
    reduced = np.asarray(pal, np.float32)[..., ::-1] / 255.0
    t = min(int(power), 100) / 100.0
    return image * (1.0 - t) + reduced * t


def transfer(mode: str, image: np.ndarray, reference: np.ndarray, area: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """The merger's colour transfer on a face crop; `area` is the binary work mask (DFL's `mask > 0`)."""
    if mode == "none":
        return image
    if mode == "rct" and not (area >= 0.5).any():
        return image  # no statistics to match (DeepFaceLive would produce invalid colours here)
    return color_transfer(mode, image, reference, mask=area, rng=rng)
