"""Detection recall against human-drawn boxes: one reader for dlib's imglab XML and one counting rule.

Why one place: the detector tests, the backend contract test and `benchmarks/detect_quality.py` all score
detectors on `group_photos/` (boxes drawn by people, dlib's imglab format). Each had its own XML reader and
its own count, and they had drifted: one skipped `ignore="1"` boxes and one did not.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuface.detect.smoothing import box_iou
from neuface.errors import UsageError

# A detection "finds" a drawn face when the boxes overlap this much: detectors frame faces differently
# (RetinaFace includes the forehead, HOG does not), so the threshold is loose, as in WIDER FACE's easy set.
MIN_IOU = 0.3
IMGLAB_FILES = ("training.xml", "testing.xml")


@dataclass(frozen=True)
class Recall:
    """Drawn faces found, drawn faces in all, and detections that match no drawn face."""

    found: int
    total: int
    false: int

    def __add__(self, other: Recall) -> Recall:
        return Recall(self.found + other.found, self.total + other.total, self.false + other.false)

    @property
    def rate(self) -> float:
        return self.found / self.total if self.total else 0.0


def human_boxes(folder: Path, files: Sequence[str] = IMGLAB_FILES) -> dict[str, list[np.ndarray]]:
    """{image file name: [(l, t, r, b), ...]} from imglab XML files in `folder`; `ignore="1"` boxes skipped."""
    out: dict[str, list[np.ndarray]] = {}
    for name in files:
        path = folder / name
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as exc:
            raise UsageError(f"{path}: cannot read face boxes: {exc}") from exc
        for image in root.iter("image"):
            out[image.get("file", "")] = [
                np.array([float(b.get("left", 0)), float(b.get("top", 0)),
                          float(b.get("left", 0)) + float(b.get("width", 0)),
                          float(b.get("top", 0)) + float(b.get("height", 0))])
                for b in image.iter("box") if b.get("ignore") != "1"]
    return out


def match_boxes(truth: Iterable[np.ndarray], found: Iterable[np.ndarray], min_iou: float = MIN_IOU) -> Recall:
    """One image: which drawn boxes some detection overlaps by `min_iou`, and which detections overlap none."""
    truth, found = [np.asarray(t, float) for t in truth], [np.asarray(f, float) for f in found]
    hits = sum(any(box_iou(t, f) >= min_iou for f in found) for t in truth)
    false = sum(not any(box_iou(t, f) >= min_iou for t in truth) for f in found)
    return Recall(hits, len(truth), false)


def recall_on(truth: Mapping[str, list[np.ndarray]], detect: Callable[[str], Iterable[np.ndarray]],
              min_iou: float = MIN_IOU) -> Recall:
    """Summed over images: `detect(file name)` gives that image's detected (l, t, r, b) boxes."""
    total = Recall(0, 0, 0)
    for name, boxes in truth.items():
        total = total + match_boxes(boxes, detect(name), min_iou)
    return total
