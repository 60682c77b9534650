"""DFL's training augmentation geometry: random grid warp, random affine, flip (dfl-models.md §2.8).

`gen_warp_params` draws one sample's parameters (shared by its warped image, target image and masks).
`apply_warp` runs them with OpenCV on the CPU (DFL's order: remap for the grid warp, then warpAffine, then
flip). `GpuWarper` does a whole batch in one `grid_sample` call on the training device: the grid warp,
affine and flip are composed into one sampling grid, so each pixel is interpolated once instead of twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch

ROTATION_DEG = 10.0
SCALE_RANGE = 0.15  # SAEHD passes scale_range (-0.15, 0.15)
SHIFT = 0.05
FLIP_PROB = 0.4  # DFL: randint(10) < 4
WARP_AMOUNT = 0.24


@dataclass
class WarpParams:
    """One sample's augmentation: dense warp maps (res,res), the 2x3 affine, and the flip."""

    mapx: np.ndarray
    mapy: np.ndarray
    rmat: np.ndarray
    flip: bool
    res: int


def random_warp_maps(res: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """DFL's "V1" random warp: a coarse grid (cell res/2, res/4 or res/8) with jittered interior nodes, upsampled.

    The grid is resized to res + cell and its half-cell margins cut off, so the outer nodes stay on the border.
    """
    cell = res // (2 ** int(rng.integers(1, 4)))
    count = res // cell + 1
    nodes = np.linspace(0, res, count)
    mapx = np.broadcast_to(nodes, (count, count)).copy()
    mapy = mapx.T.copy()
    jitter = rng.standard_normal((2, count - 2, count - 2)) * (cell * WARP_AMOUNT)
    mapx[1:-1, 1:-1] += jitter[0]
    mapy[1:-1, 1:-1] += jitter[1]
    half = cell // 2
    size = (res + cell, res + cell)
    mapx = cv2.resize(mapx, size)[half:-half, half:-half].astype(np.float32)
    mapy = cv2.resize(mapy, size)[half:-half, half:-half].astype(np.float32)
    return mapx, mapy


def gen_warp_params(res: int, rng: np.random.Generator, flip: bool, warp: bool = True,
                    transform: bool = True) -> WarpParams:
    """Draw rotation U(-10,10) deg, scale U(1/1.15, 1.15), shift U(-0.05,0.05)*res, flip p=0.4 (if allowed), warp."""
    rotation = rng.uniform(-ROTATION_DEG, ROTATION_DEG)
    scale = rng.uniform(1 / (1 + SCALE_RANGE), 1 + SCALE_RANGE)
    tx, ty = rng.uniform(-SHIFT, SHIFT, size=2)
    do_flip = bool(flip and rng.random() < FLIP_PROB)
    if warp:
        mapx, mapy = random_warp_maps(res, rng)
    else:
        grid = np.arange(res, dtype=np.float32)
        mapx, mapy = np.meshgrid(grid, grid)
    if transform:
        rmat = cv2.getRotationMatrix2D((res // 2, res // 2), rotation, scale)
        rmat[:, 2] += (tx * res, ty * res)
    else:
        rmat = np.float64([[1, 0, 0], [0, 1, 0]])
    return WarpParams(mapx=mapx, mapy=mapy, rmat=rmat, flip=do_flip, res=res)


def apply_warp(img: np.ndarray, p: WarpParams, warp: bool, is_mask: bool = False) -> np.ndarray:
    """Apply a sample's params with OpenCV: images cubic + replicate border, masks linear + zero border, no warp."""
    interp = cv2.INTER_LINEAR if is_mask else cv2.INTER_CUBIC
    border = cv2.BORDER_CONSTANT if is_mask else cv2.BORDER_REPLICATE
    squeeze = img.ndim == 2
    if warp and not is_mask:
        img = cv2.remap(img, p.mapx, p.mapy, interp, borderMode=cv2.BORDER_REPLICATE)
    img = cv2.warpAffine(img, p.rmat, (p.res, p.res), flags=interp, borderMode=border)
    if img.ndim == 2 and not squeeze:
        img = img[..., None]
    if p.flip:
        img = img[:, ::-1]
    if not is_mask and img.dtype.kind == "f":
        return np.clip(img, 0, 1)  # cubic overshoots; DFL clips after augmenting
    return np.ascontiguousarray(img)


def sampling_grid(p: WarpParams, warp: bool) -> np.ndarray:
    """Source pixel coordinates (res,res,2) for every output pixel: flip, then inverse affine, then warp map.

    Composing the three lets the GPU path sample each image once.
    """
    res = p.res
    ys, xs = np.mgrid[0:res, 0:res].astype(np.float64)
    if p.flip:
        xs = res - 1 - xs
    inv = cv2.invertAffineTransform(p.rmat)
    qx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    qy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    if not warp:
        return np.stack([qx, qy], -1).astype(np.float32)
    # The warp maps are defined on the pixel grid: sample them bilinearly at the affine's source points.
    mx = cv2.remap(p.mapx, qx.astype(np.float32), qy.astype(np.float32), cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    my = cv2.remap(p.mapy, qx.astype(np.float32), qy.astype(np.float32), cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    return np.stack([mx, my], -1).astype(np.float32)


def _normalise_grid(grid: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel-centre coordinates -> grid_sample's [-1,1] (align_corners=False)."""
    return (grid * 2 + 1) / size - 1


class GpuWarper:
    """Batched augmentation on the training device: one bicubic grid_sample for images, one bilinear for masks."""

    def __init__(self, device: torch.device):
        self.device = device

    def images(self, imgs_u8: torch.Tensor, grids: torch.Tensor) -> torch.Tensor:
        """(B,H,W,C) uint8 + (B,H,W,2) pixel grids -> (B,C,H,W) float in [0,1] (replicate border)."""
        import torch.nn.functional as F

        x = imgs_u8.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
        g = _normalise_grid(grids.to(self.device, non_blocking=True), x.shape[-1])
        return F.grid_sample(x, g, mode="bicubic", padding_mode="border", align_corners=False).clamp_(0, 1)

    def masks(self, masks_u8: torch.Tensor, grids: torch.Tensor) -> torch.Tensor:
        """(B,H,W,C) uint8 masks + grids -> (B,C,H,W) float in [0,1] (zero border)."""
        import torch.nn.functional as F

        x = masks_u8.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
        g = _normalise_grid(grids.to(self.device, non_blocking=True), x.shape[-1])
        return F.grid_sample(x, g, mode="bilinear", padding_mode="zeros", align_corners=False).clamp_(0, 1)
