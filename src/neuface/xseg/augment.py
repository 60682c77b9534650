"""XSeg training augmentation in the spirit of DFL's `SampleGeneratorFaceXSeg` (dfl-formats.md §6.3).

Same kinds and ranges as DFL (background swap 50%, rotation ±10°, scale ±5%, shift ±5%, flips, smooth
random warp, HSV/level shifts, sharpen or motion/gaussian blur, nearest/bilinear down-up resize, JPEG
artifacts, each image effect inside a random faded circle); the random streams are numpy's, not DFL's, so
individual samples differ. The mask follows every geometric change and is re-binarised at 0.5.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Image = np.ndarray


def _affine(size: int, rng: np.random.Generator, rot: float, scale: float, shift: float,
            flip: bool) -> np.ndarray:
    c = size / 2.0
    m = cv2.getRotationMatrix2D((c, c), rng.uniform(-rot, rot), 1.0 + rng.uniform(-scale, scale))
    m[:, 2] += rng.uniform(-shift, shift, 2) * size
    if flip:
        m = np.array([[-1, 0, size - 1], [0, 1, 0]], np.float64) @ np.vstack([m, [0, 0, 1]])
    return m


def _warp_grid(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random displacement field (DFL's random_warp: a coarse grid jittered by ~0.24 cell)."""
    cells = int(rng.choice([4, 8, 16]))
    cell = size / cells
    grid = np.linspace(0, size - 1, cells + 1, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    jitter = rng.normal(0.0, cell * 0.24, (2, cells + 1, cells + 1)).astype(np.float32)
    jitter[:, [0, -1], :] = 0
    jitter[:, :, [0, -1]] = 0
    map_x = cv2.resize(gx + jitter[0], (size, size), interpolation=cv2.INTER_CUBIC)
    map_y = cv2.resize(gy + jitter[1], (size, size), interpolation=cv2.INTER_CUBIC)
    return map_x, map_y


def geometric(img: Image, mask: Image, rng: np.random.Generator, warp: bool = True) -> tuple[Image, Image]:
    """Same random affine (+flip, + random warp) on image and mask; mask re-binarised at 0.5."""
    size = img.shape[0]
    m = _affine(size, rng, 10.0, 0.05, 0.05, bool(rng.random() < 0.5))
    img = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(mask, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if warp:
        mx, my = _warp_grid(size, rng)
        img = cv2.remap(img, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.remap(mask, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return img, (mask >= 0.5).astype(np.float32)


def hsv_shift(img: Image, rng: np.random.Generator, power: float = 1.0) -> Image:
    """Random hue/saturation/value shift (float32 BGR in [0,1])."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-0.5, 0.5) * 360 * power) % 360
    hsv[..., 1] = np.clip(hsv[..., 1] + rng.uniform(-0.5, 0.5) * power, 0, 1)
    hsv[..., 2] = np.clip(hsv[..., 2] + rng.uniform(-0.5, 0.5) * power, 0, 1)
    return np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), 0, 1)


def levels_shift(img: Image, rng: np.random.Generator) -> Image:
    """Random per-channel input/output levels (DFL's RGB-levels variant)."""
    in_lo, in_hi = rng.uniform(0, 0.25, 3), rng.uniform(0.75, 1.0, 3)
    out_lo, out_hi = rng.uniform(0, 0.25, 3), rng.uniform(0.75, 1.0, 3)
    gamma = rng.uniform(0.5, 1.5, 3)
    x = np.clip((img - in_lo) / (in_hi - in_lo), 0, 1) ** gamma
    return (x * (out_hi - out_lo) + out_lo).astype(np.float32)


def _faded_circle(size: int, rng: np.random.Generator) -> Image:
    """A soft random circle (1 inside, fading to 0): where a local effect applies."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = rng.uniform(0, size, 2)
    r = rng.uniform(size * 0.25, size * 0.9)
    d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / r
    return np.clip(1.5 - d * 1.5, 0, 1)[..., None].astype(np.float32)


def _in_circle(img: Image, effect: Callable[[Image], Image], rng: np.random.Generator) -> Image:
    c = _faded_circle(img.shape[0], rng)
    return (effect(img) * c + img * (1 - c)).astype(np.float32)


def _motion_blur(img: Image, rng: np.random.Generator) -> Image:
    k = int(rng.integers(3, 12))
    kernel = np.zeros((k, k), np.float32)
    kernel[k // 2, :] = 1.0 / k
    rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), rng.uniform(0, 360), 1.0)
    kernel = cv2.warpAffine(kernel, rot, (k, k))
    kernel /= max(kernel.sum(), 1e-6)
    return cv2.filter2D(img, -1, kernel)


def _sharpen(img: Image, rng: np.random.Generator) -> Image:
    blur = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 2.0))
    return np.clip(img + (img - blur) * rng.uniform(0.5, 1.5), 0, 1)


def _down_up(img: Image, rng: np.random.Generator) -> Image:
    size = img.shape[0]
    small = max(16, int(size * rng.uniform(0.25, 0.75)))
    interp = cv2.INTER_NEAREST if rng.random() < 0.5 else cv2.INTER_LINEAR
    return cv2.resize(cv2.resize(img, (small, small), interpolation=interp), (size, size), interpolation=interp)


def _jpeg(img: Image, rng: np.random.Generator) -> Image:
    u8 = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(10, 90))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR).astype(np.float32) / 255.0 if ok else img


def background_swap(img: Image, mask: Image, other: Image, rng: np.random.Generator) -> Image:
    """Put the face (mask=1) over another sample turned by ±180°, rescaled and colour shifted."""
    size = img.shape[0]
    m = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-180, 180), rng.uniform(0.8, 1.5))
    bg = cv2.warpAffine(other, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    bg = hsv_shift(bg, rng, 0.5)
    k = mask[..., None]
    return (img * k + bg * (1 - k)).astype(np.float32)


def augment(img_u8: Image, mask: Image, rng: np.random.Generator,
            other: Callable[[], Image] | None = None) -> tuple[Image, Image]:
    """One training sample: float32 BGR image in [0,1] and its 0/1 float32 mask, both (256,256[,3])."""
    img = img_u8.astype(np.float32) / 255.0
    if other is not None and rng.random() < 0.5:
        img = background_swap(img, mask, other().astype(np.float32) / 255.0, rng)
    img, mask = geometric(img, mask, rng)
    if rng.random() < 0.25:  # face / background flare
        img = _in_circle(img, lambda x: np.clip(x + rng.uniform(0.1, 0.4), 0, 1), rng)
    if rng.random() < 0.5:
        img = _in_circle(img, (lambda x: hsv_shift(x, rng, 0.5)) if rng.random() < 0.5
                         else (lambda x: levels_shift(x, rng)), rng)
    r = rng.random()
    if r < 0.25:
        img = _in_circle(img, lambda x: _sharpen(x, rng), rng)
    elif r < 0.5:
        img = _in_circle(img, (lambda x: _motion_blur(x, rng)) if rng.random() < 0.5
                         else (lambda x: cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 3.0))), rng)
    if rng.random() < 0.25:
        img = _in_circle(img, lambda x: _down_up(x, rng), rng)
    if rng.random() < 0.25:
        img = _in_circle(img, lambda x: _jpeg(x, rng), rng)
    return np.clip(img, 0, 1).astype(np.float32), mask
