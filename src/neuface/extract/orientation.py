"""Rotation/mirror metadata (the container's display matrix) -> upright pixels, as the ffmpeg CLI shows them.

PyAV exposes the display matrix as frame side data; `frame.rotation` alone loses the mirror flag, so the
matrix itself is read. The table below was checked against `ffmpeg -i` (autorotate) for all eight
orientations that `VideoStream.set_display_rotation` can write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Orientation:
    """Mirror left-right first (if `mirror`), then turn `turns` quarter turns counter-clockwise."""

    turns: int = 0
    mirror: bool = False

    @property
    def is_identity(self) -> bool:
        return self.turns % 4 == 0 and not self.mirror

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self.is_identity:
            return image
        if self.mirror:
            image = image[:, ::-1]
        if self.turns % 4:
            image = np.rot90(image, self.turns % 4)
        return np.ascontiguousarray(image)


UPRIGHT = Orientation()

# Signs of the display matrix's 2x2 part (m[0], m[1], m[3], m[4]) -> orientation.
_BY_SIGNS: dict[tuple[int, int, int, int], Orientation] = {
    (1, 0, 0, 1): Orientation(0, False),
    (-1, 0, 0, 1): Orientation(0, True),
    (0, -1, 1, 0): Orientation(1, False),
    (0, -1, -1, 0): Orientation(3, True),
    (-1, 0, 0, -1): Orientation(2, False),
    (1, 0, 0, -1): Orientation(2, True),
    (0, 1, -1, 0): Orientation(3, False),
    (0, 1, 1, 0): Orientation(1, True),
}


def from_display_matrix(matrix: np.ndarray, rotation_degrees: float = 0.0) -> Orientation:
    """Orientation of a 3x3 int32 display matrix (9 values); non-right-angle matrices round the rotation."""
    m = np.asarray(matrix, dtype=np.int64).reshape(-1)
    part = m[[0, 1, 3, 4]].astype(np.float64)
    scale = np.abs(part).max()
    if scale == 0:
        return UPRIGHT
    signs = tuple(int(v) for v in np.where(np.abs(part) < scale / 2, 0, np.sign(part)))
    found = _BY_SIGNS.get(signs)  # type: ignore[arg-type]
    if found is not None:
        return found
    return Orientation(int(round(rotation_degrees / 90.0)) % 4, False)


def frame_orientation(frame: Any) -> Orientation:
    """Orientation of a decoded PyAV VideoFrame (UPRIGHT when it carries no display matrix)."""
    import av.sidedata.sidedata as sd

    data = frame.side_data.get(sd.Type.DISPLAYMATRIX)
    if data is None:
        return UPRIGHT
    raw = bytes(data)
    if len(raw) < 36:
        return UPRIGHT
    return from_display_matrix(np.frombuffer(raw[:36], dtype="<i4"), float(frame.rotation or 0))
