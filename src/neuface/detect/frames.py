"""Reading frames the way DFL's extractor does, plus the odd formats real footage folders contain.

DFL reads with IMREAD_UNCHANGED, drops alpha, repeats grey to 3 channels and crops an odd width/height
by one pixel (`cut_odd_image`), so `source_landmarks` line up with the frame DFL's merger loads. We do the
same, and also bring 16-bit and float images to 8-bit (DFL would fail on them).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from neuface.workspace import IMAGE_EXTENSIONS


class FrameError(Exception):
    """A frame that cannot be used (unreadable, corrupt, unsupported layout)."""


def to_bgr8(img: np.ndarray) -> np.ndarray:
    """Any decoded image -> BGR uint8 (H, W, 3): grey repeated, alpha dropped, 16-bit/float scaled."""
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif img.dtype.kind == "f":
        img = (np.clip(np.nan_to_num(img), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise FrameError(f"unsupported pixel type {img.dtype}")
    if img.ndim == 2:
        img = img[..., None]
    channels = img.shape[2]
    if channels == 1:
        img = np.repeat(img, 3, axis=2)
    elif channels == 2:
        img = np.repeat(img[..., :1], 3, axis=2)
    elif channels >= 4:
        img = img[..., :3]
    return np.ascontiguousarray(img)


def cut_odd(img: np.ndarray) -> np.ndarray:
    """Crop an odd height/width by one pixel at the bottom/right (DFL's `cut_odd_image`)."""
    h, w = img.shape[:2]
    return img[: h - h % 2, : w - w % 2]


def load_frame(path: Path) -> np.ndarray:
    """A frame as DFL's extractor sees it: BGR uint8, even size. FrameError when unusable."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise FrameError(f"cannot read: {exc.strerror or exc}") from exc
    if data.size == 0:
        raise FrameError("empty file")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FrameError("not a decodable image (corrupt or unsupported format)")
    img = cut_odd(to_bgr8(img))
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise FrameError(f"image too small ({img.shape[1]}x{img.shape[0]})")
    return img


def list_frames(folder: Path) -> tuple[list[Path], list[Path]]:
    """(frames to process, duplicates skipped): sorted images, the first of each file stem wins (as DFL)."""
    if not folder.is_dir():
        return [], []
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    seen: set[str] = set()
    keep, dupes = [], []
    for p in files:
        if p.stem in seen:
            dupes.append(p)
        else:
            seen.add(p.stem)
            keep.append(p)
    return keep, dupes
