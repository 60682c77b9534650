"""DFL's colour transfers: move an image's colours toward a reference image's.

Used by training (`ct_mode`: src sample toward a random dst sample) and by the merger (predicted face toward
the dst crop). Every function takes float32 BGR images in [0,1] of shape (H,W,3) and returns the same.
Argument order is always `(image_to_change, reference)`.

Training modes (`TRAIN_MODES`): rct, lct, mkl, idt, sot. Merger modes (`MERGE_MODES`) add masked variants
(`mkl-m`, `idt-m`, `sot-m`, `mix-m`), where both images are first multiplied by the binary area mask.
Randomised modes (idt, sot, mix) take a `numpy.random.Generator` so training is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

TRAIN_MODES = ("rct", "lct", "mkl", "idt", "sot")
MERGE_MODES = ("rct", "lct", "mkl", "mkl-m", "idt", "idt-m", "sot-m", "mix-m")

_EPS = 1e-10


def _flat(img: np.ndarray) -> np.ndarray:
    return img.reshape(-1, img.shape[-1]).astype(np.float64)


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return rng if rng is not None else np.random.default_rng()


def rct(image: np.ndarray, reference: np.ndarray, image_mask: np.ndarray | None = None,
        reference_mask: np.ndarray | None = None, mask_cutoff: float = 0.5) -> np.ndarray:
    """Reinhard transfer: match per-channel mean and std in OpenCV's float Lab space.

    With masks, statistics come from pixels where the mask >= cutoff; the other pixels count as zeros
    (DFL's behaviour: they are zeroed, not dropped). L is clipped to 0..100 and a, b to +-127.
    """
    img_lab = cv2.cvtColor(np.ascontiguousarray(image, np.float32), cv2.COLOR_BGR2LAB)
    ref_lab = cv2.cvtColor(np.ascontiguousarray(reference, np.float32), cv2.COLOR_BGR2LAB)

    def stats(lab: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        x = lab
        if mask is not None:
            x = lab.copy()
            x[np.asarray(mask).reshape(lab.shape[:2]) < mask_cutoff] = 0
        flat = _flat(x)
        return flat.mean(0), flat.std(0)

    img_mean, img_std = stats(img_lab, image_mask)
    ref_mean, ref_std = stats(ref_lab, reference_mask)
    out = (img_lab - img_mean) * (ref_std / np.maximum(img_std, _EPS)) + ref_mean
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    out[..., 1:] = np.clip(out[..., 1:], -127, 127)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2BGR), 0, 1)


def _sym_sqrt(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    return vecs @ np.diag(np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def lct(image: np.ndarray, reference: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Linear (PCA) transfer: x <- Qr . Qi^-1 . (x - mu_i) + mu_r, Q the symmetric square root of the covariance."""
    x, r = _flat(image), _flat(reference)
    mu_x, mu_r = x.mean(0), r.mean(0)
    xc, rc = x - mu_x, r - mu_r
    eye = np.eye(x.shape[1]) * eps
    q_x = _sym_sqrt(xc.T @ xc / len(xc) + eye)
    q_r = _sym_sqrt(rc.T @ rc / len(rc) + eye)
    out = xc @ (q_r @ np.linalg.inv(q_x)).T + mu_r
    return np.clip(out.reshape(image.shape), 0, 1).astype(np.float32)


def mkl(image: np.ndarray, reference: np.ndarray, eps: float = np.finfo(float).eps) -> np.ndarray:
    """Monge-Kantorovich linear transfer (Pitie): the linear map between the two Gaussians with least motion."""
    x, r = _flat(image), _flat(reference)
    cov_x, cov_r = np.cov(x, rowvar=False), np.cov(r, rowvar=False)
    vals_a, vecs_a = np.linalg.eigh(cov_x)
    da = np.diag(np.sqrt(np.clip(vals_a, eps, None)))
    c = da @ vecs_a.T @ cov_r @ vecs_a @ da
    vals_c, vecs_c = np.linalg.eigh(c)
    dc = np.diag(np.sqrt(np.clip(vals_c, eps, None)))
    da_inv = np.diag(1.0 / np.diag(da))
    t = vecs_a @ da_inv @ vecs_c @ dc @ vecs_c.T @ da_inv @ vecs_a.T
    out = (x - x.mean(0)) @ t + r.mean(0)
    return np.clip(out.reshape(image.shape), 0, 1).astype(np.float32)


def _random_rotation(rng: np.random.Generator, n: int) -> np.ndarray:
    """A uniformly random rotation matrix (QR of a Gaussian matrix, sign-fixed, det +1)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def idt(image: np.ndarray, reference: np.ndarray, bins: int = 256, n_rot: int = 20,
        rng: np.random.Generator | None = None) -> np.ndarray:
    """Iterative distribution transfer: per random 3-D rotation, histogram-match each rotated axis, relaxed 1/n_rot."""
    rng = _rng(rng)
    relaxation = 1.0 / n_rot
    cur = _flat(image).T  # (C, N)
    ref = _flat(reference).T
    for _ in range(n_rot):
        rot = _random_rotation(rng, cur.shape[0])
        cur_r, ref_r = rot @ cur, rot @ ref
        moved = np.empty_like(cur_r)
        for j in range(cur_r.shape[0]):
            lo = min(cur_r[j].min(), ref_r[j].min())
            hi = max(cur_r[j].max(), ref_r[j].max())
            h_cur, edges = np.histogram(cur_r[j], bins=bins, range=(lo, hi))
            h_ref, _ = np.histogram(ref_r[j], bins=bins, range=(lo, hi))
            cdf_cur = np.cumsum(h_cur).astype(np.float64)
            cdf_cur /= max(cdf_cur[-1], _EPS)
            cdf_ref = np.cumsum(h_ref).astype(np.float64)
            cdf_ref /= max(cdf_ref[-1], _EPS)
            # For each bin of the image's CDF, the reference value with the same cumulative mass.
            mapped = np.interp(cdf_cur, cdf_ref, edges[1:])
            # Clamp at the ends (DFL maps values below the first bin edge to 0, a quirk we don't keep).
            moved[j] = np.interp(cur_r[j], edges[1:], mapped)
        cur = relaxation * (rot.T @ (moved - cur_r)) + cur
    return np.clip(cur.T.reshape(image.shape), 0, 1).astype(np.float32)


def sot(image: np.ndarray, reference: np.ndarray, steps: int = 10, batch_size: int = 5,
        reg_sigma_xy: float = 16.0, reg_sigma_v: float = 5.0, rng: np.random.Generator | None = None,
        clip: bool = True) -> np.ndarray:
    """Sliced optimal transport: move pixels along random 1-D projections toward the reference's sorted values.

    Both images need the same pixel count (pixels are paired by rank). The displacement field is then
    smoothed with a bilateral filter (DFL's regularisation) so neighbouring pixels move alike.
    """
    if image.shape[:2] != reference.shape[:2]:
        reference = cv2.resize(reference, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    rng = _rng(rng)
    h, w, c = image.shape
    src = np.ascontiguousarray(image, np.float32)
    ref = reference.reshape(-1, c).astype(np.float32)
    cur = src.reshape(-1, c).copy()
    for _ in range(steps):
        advect = np.zeros_like(cur)
        for _ in range(batch_size):
            d = rng.standard_normal(c).astype(np.float32)
            d /= max(float(np.linalg.norm(d)), _EPS)
            proj_cur = cur @ d
            order_cur = np.argsort(proj_cur)
            shift = np.sort(ref @ d) - proj_cur[order_cur]
            advect[order_cur] += shift[:, None] * d[None, :]
        cur += advect / batch_size
    out = cur.reshape(h, w, c)
    if reg_sigma_xy:
        diff = cv2.bilateralFilter(out - src, 0, reg_sigma_v, reg_sigma_xy)
        out = src + diff.reshape(h, w, c)
    return np.clip(out, 0, 1) if clip else out


def mix(image: np.ndarray, reference: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """DFL's `mix-m`: lightness by linear transfer on Lab L, chroma by sliced OT on colours at fixed lightness."""
    img8 = np.clip(image * 255, 0, 255).astype(np.uint8)
    ref8 = np.clip(reference * 255, 0, 255).astype(np.uint8)
    img_lab = cv2.cvtColor(img8, cv2.COLOR_BGR2LAB)
    ref_lab = cv2.cvtColor(ref8, cv2.COLOR_BGR2LAB)
    light = lct(img_lab[..., :1].astype(np.float32) / 255, ref_lab[..., :1].astype(np.float32) / 255)
    light8 = np.clip(light[..., 0] * 255, 0, 255).astype(np.uint8)

    def chroma_only(lab: np.ndarray) -> np.ndarray:
        flat = lab.copy()
        flat[..., 0] = 100
        return cv2.cvtColor(flat, cv2.COLOR_LAB2BGR).astype(np.float32)

    moved = sot(chroma_only(img_lab), chroma_only(ref_lab), rng=rng, clip=False)
    out_lab = cv2.cvtColor(np.clip(moved, 0, 255).astype(np.uint8), cv2.COLOR_BGR2LAB)
    out_lab[..., 0] = light8
    return (cv2.cvtColor(out_lab, cv2.COLOR_LAB2BGR) / 255.0).astype(np.float32)


def _masked(fn: Callable[..., np.ndarray], image: np.ndarray, reference: np.ndarray,
            mask: np.ndarray | None, **kw: object) -> np.ndarray:
    if mask is None:
        raise ValueError("masked colour transfer modes need a mask")
    area = (np.asarray(mask, np.float32).reshape(image.shape[:2] + (1,)) > 0).astype(np.float32)
    return fn(image * area, reference * area, **kw)


def color_transfer(mode: str, image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Apply a training (`TRAIN_MODES`) or merger (`MERGE_MODES`) colour transfer; `none` returns the image.

    `mask` (H,W[,1]) is the merger's work mask: rct uses it for statistics (>= 0.5), `-m` modes zero
    everything outside it (> 0) first, as DFL does.
    """
    image = np.asarray(image, np.float32)
    reference = np.asarray(reference, np.float32)
    if mode in ("none", "", None):
        return image
    if mode == "rct":
        return rct(image, reference, mask, mask)
    if mode == "lct":
        return lct(image, reference)
    if mode == "mkl":
        return mkl(image, reference)
    if mode == "mkl-m":
        return _masked(mkl, image, reference, mask)
    if mode == "idt":
        return idt(image, reference, rng=rng)
    if mode == "idt-m":
        return _masked(idt, image, reference, mask, rng=rng)
    if mode == "sot":
        return sot(image, reference, rng=rng)
    if mode == "sot-m":
        return _masked(sot, image, reference, mask, batch_size=30, rng=rng)
    if mode == "mix-m":
        return _masked(mix, image, reference, mask, rng=rng)
    known = ", ".join(sorted(set(MERGE_MODES + TRAIN_MODES)))
    raise ValueError(f"unknown colour transfer mode {mode!r}; choose from {known}")
