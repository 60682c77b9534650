"""XSeg mask encoding exactly as DFL stores `xseg_mask`: PNG, or JPEG when the PNG exceeds 50,000 bytes.

The encoded bytes must stay under the 65,533-byte metadata segment limit together with the rest of the
metadata, hence DFL's 50,000-byte cap and descending JPEG quality search.
"""

from __future__ import annotations

import numpy as np

MAX_ENCODED_BYTES = 50_000


def encode_xseg_mask(mask: np.ndarray) -> bytes:
    """Encode a mask (float in [0,1], bool, or uint8 0..255; (H,W) or (H,W,C)) as DFL does."""
    import cv2

    arr = np.asarray(mask)
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"xseg mask must be 2-D (H,W) or (H,W,C), got shape {np.asarray(mask).shape}")
    if arr.dtype == np.uint8:
        img = arr
    else:
        img = np.clip(arr.astype(np.float32) * 255, 0, 255).astype(np.uint8)
    img = np.ascontiguousarray(img)
    ok, buf = cv2.imencode(".png", img)
    if ok and buf.size <= MAX_ENCODED_BYTES:
        return buf.tobytes()
    for quality in range(100, -1, -1):
        ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
        if ok and buf.size <= MAX_ENCODED_BYTES:
            return buf.tobytes()
    raise ValueError("xseg mask cannot be encoded under 50,000 bytes")


def decode_xseg_mask(data: bytes) -> np.ndarray:
    """Encoded mask bytes → float32 (H,W,1) in [0,1] (DFL's `get_xseg_mask`)."""
    import cv2

    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError("xseg_mask bytes are not a decodable image")
    if img.ndim == 3:
        img = img[..., 0]
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    return (img.astype(np.float32) / scale)[..., None]
