"""The visible provenance label drawn in a corner of every merged frame (on by default, `--no-label`).

Container metadata is easy to strip; a label in the picture survives re-uploads and screenshots.
"""

from __future__ import annotations

import cv2
import numpy as np

LABEL_TEXT = "AI-generated face (neuface)"
SHORT_TEXTS = ("AI-generated", "AI")  # for frames too narrow for the full text (e.g. raw-predict squares)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _font(h: int, w: int) -> tuple[float, int]:
    scale = max(0.3, min(h, w) / 900.0)
    return scale, max(1, int(round(scale * 1.6)))


def fitted_text(shape: tuple[int, ...], text: str = LABEL_TEXT) -> str:
    """`text`, or the longest shorter label that fits the frame's width (the label must stay readable)."""
    h, w = shape[:2]
    scale, thickness = _font(h, w)
    for candidate in (text, *SHORT_TEXTS):
        (tw, th), _ = cv2.getTextSize(candidate, _FONT, scale, thickness)
        if tw + 2 * max(2, th // 3) <= w:
            return candidate
    return SHORT_TEXTS[-1]


def label_rect(shape: tuple[int, ...], text: str = LABEL_TEXT) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the label box for a frame shape: bottom-right, sized to the frame."""
    h, w = shape[:2]
    text = fitted_text(shape, text)
    scale, thickness = _font(h, w)
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(2, th // 3)
    x1, y1 = w - pad, h - pad
    return max(0, x1 - tw - 2 * pad), max(0, y1 - th - base - 2 * pad), x1, y1


def draw_label(frame: np.ndarray, text: str = LABEL_TEXT) -> None:
    """Draw white text on a darkened box in the bottom-right corner of a BGR uint8 frame, in place."""
    x0, y0, x1, y1 = label_rect(frame.shape, text)
    text = fitted_text(frame.shape, text)
    box = frame[y0:y1, x0:x1]
    box[:] = (box.astype(np.uint16) * 2 // 5).astype(np.uint8)
    scale, thickness = _font(*frame.shape[:2])
    (_, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(2, th // 3)
    cv2.putText(frame, text, (x0 + pad, y1 - pad - base), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
