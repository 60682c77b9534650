"""Temporal landmark smoothing (neuface.detect.smoothing) on a real talking head: jitter and lag, per strength.

    python benchmarks/smoothing_bench.py [--video talking_head_d3.mp4] [--backend auto] [--still FRAME]

Landmarks come from the detector on every frame of the video (cached in the temp folder, keyed by video
and backend, so reruns are fast). Measured on the 4 corners of the DFL whole-face crop mapped back into
the frame (where a merged face is pasted):
- jitter: mean corner acceleration (second difference, px/frame^2: the tremble on top of the motion) on the
  calmest 1 s (least raw motion), raw vs smoothed; motion: plain frame-to-frame corner motion there
  (includes the head's real motion, so no causal filter can halve it on this video);
- lag: the time shift (frames, sub-frame) that best aligns the smoothed track with the raw one on the
  fastest 1 s.

--still FRAME holds that frame of the video still instead: every frame is the same picture with fresh
sensor-like noise (Gaussian, sigma 3 of 255) and a JPEG round trip (quality 90), as a static camera films a
still head. The head's true motion is then zero, so the frame-to-frame motion of the corners is all jitter:
the issue's "jitter on a still head" measured directly (on a real talking head it also holds the head's
motion, which no causal filter may remove).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from pathlib import Path

import cv2
import numpy as np

from neuface.detect.smoothing import (
    DEFAULT_STRENGTH,
    corner_track,
    jitter_ratio,
    lag_frames,
    motion,
    smooth_track,
    window_by_motion,
)

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "fixtures" / "real"


def video_landmarks(video: Path, backend: str = "auto", max_frames: int = 0) -> tuple[np.ndarray, float]:
    """((T,68,2) landmarks of the largest face per frame, fps), cached in a temp .npy."""
    from neuface.extract.video import VideoSource

    key = hashlib.sha1(f"{video.resolve()}:{video.stat().st_size}:{backend}:{max_frames}".encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"neuface_smoothing_{key}.npz"
    if cache.exists():
        d = np.load(cache)
        return d["landmarks"], float(d["fps"])
    from neuface.detect.backends import DetectOptions, create_backend
    from neuface.detect.faces import select_faces

    det = create_backend(backend, DetectOptions(with_embeddings=False))
    out: list[np.ndarray] = []
    with VideoSource(video) as src:
        fps = float(src.info.rate or 25)
        for d in src.frames():
            faces = select_faces(det.detect_batch([d.to_bgr()])[0], 1)
            out.append(np.asarray(faces[0].landmarks, np.float64) if faces else np.full((68, 2), np.nan))
            if max_frames and len(out) >= max_frames:
                break
    lms = np.stack(out)
    np.savez(cache, landmarks=lms, fps=fps)
    return lms, fps


def still_frames(frame: np.ndarray, count: int, noise: float = 3.0, quality: int = 90,
                 seed: int = 0) -> list[np.ndarray]:
    """`count` BGR copies of `frame`, each with its own Gaussian noise (sigma `noise` of 255) and a JPEG round
    trip: a still head as a static camera records it."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        noisy = np.clip(frame + rng.normal(0.0, noise, frame.shape), 0, 255).astype(np.uint8)
        ok, jpg = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out.append(cv2.imdecode(jpg, cv2.IMREAD_COLOR))
    return out


def still_landmarks(video: Path, frame_index: int, count: int, backend: str = "auto") -> tuple[np.ndarray, float]:
    """((count,68,2) landmarks of the largest face on still_frames of frame `frame_index`, the video's fps)."""
    from neuface.detect.backends import DetectOptions, create_backend
    from neuface.detect.faces import select_faces
    from neuface.extract.video import VideoSource

    with VideoSource(video) as src:
        fps = float(src.info.rate or 25)
        frame = next((d.to_bgr() for i, d in enumerate(src.frames()) if i == frame_index), None)
    if frame is None:
        raise SystemExit(f"{video}: has no frame {frame_index}")
    det = create_backend(backend, DetectOptions(with_embeddings=False))
    out = []
    for img in still_frames(frame, count):
        faces = select_faces(det.detect_batch([img])[0], 1)
        if not faces:
            raise SystemExit(f"{video}: frame {frame_index} lost its face under noise; pick another")
        out.append(np.asarray(faces[0].landmarks, np.float64))
    return np.stack(out), fps


def corner_tracks(lms: np.ndarray, fps: float, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """(raw, smoothed) whole-face crop corner tracks of one face's landmarks over time."""
    raw = corner_track(list(lms))
    return raw, corner_track([f[0] for f in smooth_track([[lm] for lm in lms], fps, strength)])


def measure_still(lms: np.ndarray, fps: float, strength: float) -> tuple[float, float]:
    """(raw, smoothed) frame-to-frame corner motion over the whole still clip, px/frame."""
    raw, sm = corner_tracks(lms, fps, strength)
    return motion(raw), motion(sm)


def measure(lms: np.ndarray, fps: float, strength: float) -> dict[str, float]:
    """Jitter (calmest second) and lag (fastest second) of `strength` against the raw landmarks."""
    window = int(round(fps))
    raw, sm = corner_tracks(lms, fps, strength)
    r, s, ratio = jitter_ratio(raw, sm, window)
    calm = window_by_motion(raw, window)
    return {"raw_jitter": r, "smooth_jitter": s, "ratio": ratio, "raw_motion": motion(raw[calm]),
            "smooth_motion": motion(sm[calm]), "lag": lag_frames(raw, sm, window)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=REAL / "talking_head_d3.mp4")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--frames", type=int, default=0, help="only the first N frames (0 = all)")
    ap.add_argument("--still", type=int, default=None, metavar="FRAME",
                    help="hold this frame still (fresh noise each frame) and measure jitter as plain motion")
    ap.add_argument("--still-frames", type=int, default=90, help="length of the --still clip")
    args = ap.parse_args()
    if args.still is not None:
        lms, fps = still_landmarks(args.video, args.still, args.still_frames, args.backend)
        print(f"{args.video.name} frame {args.still} held still for {len(lms)} frames at {fps:g} fps, "
              f"backend {args.backend}; frame-to-frame corner motion (all jitter: the head does not move)")
        print(f"{'strength':>8} {'raw':>7} {'smoothed':>8} {'less':>6}")
        for strength in (0.25, 0.5, 0.75, 1.0):
            raw, sm = measure_still(lms, fps, strength)
            mark = " (default)" if strength == DEFAULT_STRENGTH else ""
            print(f"{strength:8.2f} {raw:7.3f} {sm:8.3f} {raw / sm:5.1f}x{mark}")
        return
    lms, fps = video_landmarks(args.video, args.backend, args.frames)
    if np.isnan(lms).any():
        raise SystemExit(f"{args.video}: some frames have no face; pick a one-face video")
    print(f"{args.video.name}: {len(lms)} frames at {fps:g} fps, backend {args.backend}; 1 s windows")
    print(f"{'strength':>8} {'jitter raw':>10} {'smoothed':>8} {'less':>6} {'motion raw':>10} {'smoothed':>8} "
          f"{'less':>6} {'lag frames':>10}")
    for strength in (0.0, 0.25, 0.5, 0.75, 1.0):
        m = measure(lms, fps, strength)
        mark = " (default)" if strength == DEFAULT_STRENGTH else ""
        print(f"{strength:8.2f} {m['raw_jitter']:10.3f} {m['smooth_jitter']:8.3f} {m['ratio']:5.1f}x "
              f"{m['raw_motion']:10.3f} {m['smooth_motion']:8.3f} {m['raw_motion'] / m['smooth_motion']:5.2f}x "
              f"{m['lag']:10.2f}{mark}")


if __name__ == "__main__":
    main()
