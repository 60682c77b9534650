"""DFL's merge motion blur (`--motion-blur`, dfl-formats.md §10.1-10.2): blur a moving face along its motion.

Motion of frame i: the centre of the face's 256-px full-face crop, mapped back to the frame, in frame i+1
minus the same point in frame i-1 (the frame itself stands in at either end of the video); its length in
frame pixels is the power, its angle (degrees, image y down, so negated) the direction. Only frames whose
neighbourhood has one face each get a motion (DFL turns the effect off for a whole video with several
faces; neuface streams, so it does this per frame). The merged face is blurred with a line kernel of
`int(power * strength/100) + 1` pixels (2..50), rotated to the motion's angle.

Streaming needs one frame of lookahead: `assign_motion` holds each batch back until the next one's faces
are known.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from neuface.dfl.align import get_transform_mat, transform_points

MOTION_CROP = 256  # the full-face crop whose centre DFL tracks
MIN_KERNEL, MAX_KERNEL = 2, 50

T = TypeVar("T")


@dataclass(frozen=True)
class Motion:
    """How far (frame pixels, previous to next frame) and which way (degrees, counter-clockwise) a face moves."""

    power: float
    degrees: float


def face_centre(landmarks: np.ndarray) -> np.ndarray:
    """(x, y) in the frame of the centre pixel of the face's 256-px full-face crop."""
    mat = get_transform_mat(np.asarray(landmarks, np.float64), MOTION_CROP, "full_face")
    centre = MOTION_CROP // 2 - 1
    return transform_points(np.float32([[centre, centre]]), mat, invert=True)[0].astype(np.float64)


def frame_motion(prev: np.ndarray, nxt: np.ndarray) -> Motion:
    """Motion from the previous frame's face landmarks to the next frame's."""
    v = face_centre(nxt) - face_centre(prev)
    power = float(np.hypot(v[0], v[1]))
    degrees = -math.degrees(math.atan2(v[1], v[0])) if power > 0 else 0.0
    return Motion(power, degrees)


def kernel_size(motion: Motion, strength: int) -> int:
    """The blur's length in pixels for `--motion-blur strength` (0 = no blur for this face)."""
    k = int(motion.power * strength / 100.0)
    return 0 if k < 1 else int(np.clip(k + 1, MIN_KERNEL, MAX_KERNEL))


def motion_kernel(size: int, degrees: float) -> np.ndarray:
    """A normalised (size, size) line through the kernel's centre, rotated to `degrees`."""
    line = np.zeros((size, size), np.float32)
    line[(size - 1) // 2, :] = 1.0
    centre = (size / 2 - 0.5, size / 2 - 0.5)
    kernel = cv2.warpAffine(line, cv2.getRotationMatrix2D(centre, degrees, 1.0), (size, size))
    total = float(kernel.sum())
    return kernel / total if total > 0 else line / size


def motion_blur(image: np.ndarray, size: int, degrees: float) -> np.ndarray:
    """`image` (H,W,3 float32) smeared along `degrees` over `size` pixels."""
    return cv2.filter2D(image, -1, motion_kernel(size, degrees))


def _single(faces: Sequence[object]) -> np.ndarray | None:
    return np.asarray(faces[0].landmarks) if len(faces) == 1 else None  # type: ignore[attr-defined]


def _set_motion(faces: Sequence[object], before: Sequence[object], after: Sequence[object]) -> None:
    """A frame's single face gets the motion from the frame before to the frame after, when each has one face."""
    if _single(faces) is None:
        return
    p, n = _single(before), _single(after)
    faces[0].motion = frame_motion(p, n) if p is not None and n is not None else None  # type: ignore[attr-defined]


def set_motion_from_neighbours(faces_by_index: Mapping[int, Sequence[Sequence[object]]],
                               indices: Iterable[int]) -> None:
    """Set `.motion` for the frames `indices` from frames index-1 and index+1 of `faces_by_index` (a frame
    missing from it, past either end of the video, stands for itself)."""
    for i in indices:
        faces = faces_by_index[i]
        _set_motion(faces, faces_by_index.get(i - 1, faces), faces_by_index.get(i + 1, faces))


def assign_motion(batches: Iterable[T], faces_of: Callable[[T], Sequence[Sequence[object]]]) -> Iterator[T]:
    """Yield `batches` unchanged but one batch late, after setting `.motion` on each frame's face (objects
    with `.landmarks` and a writable `.motion`): the last frame of a batch needs the next batch's first."""
    prev_frame: Sequence[object] | None = None  # faces of the frame before the held batch
    held: T | None = None

    def settle(batch: T, following: Sequence[object] | None) -> None:
        nonlocal prev_frame
        frames = list(faces_of(batch))
        for i, faces in enumerate(frames):
            after = frames[i + 1] if i + 1 < len(frames) else (following if following is not None else faces)
            _set_motion(faces, prev_frame if prev_frame is not None else faces, after)
            prev_frame = faces

    for batch in batches:
        if held is not None:
            nxt = list(faces_of(batch))
            settle(held, nxt[0] if nxt else None)
            yield held
        held = batch
    if held is not None:
        settle(held, None)
        yield held
