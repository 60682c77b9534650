"""Short demo clips made from one still photo: a moving camera (pan, zoom, roll) and changing light.

Why synthesise instead of shipping video: the only public-domain faces that come with neuface's own
dependencies are still photos (matplotlib's Grace Hopper, scikit-image's Eileen Collins). A virtual camera moving
over the photo, with the light changing, gives the detector, aligner and trainer the variation a real
clip has, deterministically and offline. Clips are H.264 mp4 (PyAV's bundled FFmpeg), written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuface.atomic import atomic_path
from neuface.errors import VideoError


@dataclass(frozen=True)
class CameraPath:
    """A virtual camera over a still: where it looks, how close, how tilted and how lit, over t in [0, 1].

    center: (x, y) of the still the camera looks at (start, end), linearly interpolated.
    zoom: output pixels per still pixel (start, end), eased.
    roll_deg: amplitude of a sinusoidal roll, one full swing per clip.
    gain: overall brightness (start, end); light_swing: strength of a light ramp whose direction turns.
    warmth: colour temperature (start, end): + warmer (more red), - cooler (more blue).
    saturation: 1 keeps colour, 0 is grey.
    mirror: flip the still left-right first (the camera path is in flipped coordinates).
    """

    center: tuple[tuple[float, float], tuple[float, float]]
    zoom: tuple[float, float]
    roll_deg: float = 6.0
    gain: tuple[float, float] = (1.0, 1.0)
    light_swing: float = 0.25
    warmth: tuple[float, float] = (0.0, 0.0)
    saturation: float = 1.0
    mirror: bool = False


def _ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t)


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def camera_matrix(path: CameraPath, t: float, size: int) -> np.ndarray:
    """2x3 affine still -> frame for time t: look at the path's point, zoom, roll about the frame centre."""
    e = _ease(t)
    cx = _lerp(path.center[0][0], path.center[1][0], t)
    cy = _lerp(path.center[0][1], path.center[1][1], t)
    s = _lerp(path.zoom[0], path.zoom[1], e)
    a = math.radians(path.roll_deg * math.sin(2 * math.pi * t))
    c, n = s * math.cos(a), s * math.sin(a)
    half = size / 2.0
    return np.array([[c, -n, half - c * cx + n * cy],
                     [n, c, half - n * cx - c * cy]], dtype=np.float64)


def relight(frame: np.ndarray, path: CameraPath, t: float) -> np.ndarray:
    """Brightness ramp, a turning directional light, colour temperature and saturation (BGR uint8 in/out)."""
    h, w = frame.shape[:2]
    img = frame.astype(np.float32)
    if path.saturation != 1.0:
        grey = img.mean(axis=2, keepdims=True)
        img = grey + (img - grey) * path.saturation
    angle = 2 * math.pi * t
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((xs / w - 0.5) * math.cos(angle) + (ys / h - 0.5) * math.sin(angle)) * 2  # -1..1 across the frame
    gain = _lerp(path.gain[0], path.gain[1], _ease(t)) * (1 + path.light_swing * ramp)
    warm = _lerp(path.warmth[0], path.warmth[1], t)
    tint = np.array([1 - warm, 1.0, 1 + warm], dtype=np.float32)  # B, G, R
    img = img * gain[..., None] * tint
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def render_frames(still_bgr: np.ndarray, path: CameraPath, count: int, size: int) -> Iterator[np.ndarray]:
    """`count` BGR uint8 frames of `size`x`size` along the camera path."""
    import cv2

    still = np.ascontiguousarray(still_bgr[:, ::-1]) if path.mirror else still_bgr
    for i in range(count):
        t = i / max(count - 1, 1)
        frame = cv2.warpAffine(still, camera_matrix(path, t, size), (size, size), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT101)
        yield relight(frame, path, t)


def encode_mp4(frames: Iterator[np.ndarray], out: str | os.PathLike[str], fps: int, crf: int = 18) -> int:
    """Encode BGR frames as H.264 (yuv420p) mp4, atomically; mpeg4 when the FFmpeg build lacks x264."""
    import av

    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    count = 0
    try:
        with atomic_path(out) as tmp, av.open(os.fspath(tmp), mode="w", format="mp4") as container:
            stream = None
            for frame in frames:
                if stream is None:
                    stream = container.add_stream(codec, rate=fps)
                    stream.width, stream.height = frame.shape[1], frame.shape[0]
                    stream.pix_fmt = "yuv420p"
                    if codec == "libx264":
                        stream.options = {"crf": str(crf), "preset": "veryfast"}
                    else:
                        stream.bit_rate = 4_000_000
                video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
                for packet in stream.encode(video_frame):
                    container.mux(packet)
                count += 1
            if stream is None:
                raise VideoError(f"{out}: no frames to encode")
            for packet in stream.encode():
                container.mux(packet)
    except av.FFmpegError as exc:
        raise VideoError(f"{out}: cannot encode the clip ({exc})") from exc
    return count


def make_clip(still_bgr: np.ndarray, path: CameraPath, out: Path, seconds: float = 2.5, fps: int = 12,
              size: int = 256) -> int:
    """Render and encode one clip; returns its frame count."""
    count = max(2, round(seconds * fps))
    return encode_mp4(render_frames(still_bgr, path, count, size), out, fps)
