"""Steady faces in video: a One-Euro filter over each face track's 68 landmarks (issue 15 §3).

Per-frame landmarks jitter by a pixel or two even on a still head, and a merged video shows that as a
trembling face. The One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) is a first-order low-pass whose
cutoff rises with speed: `cutoff = min_cutoff + beta * |speed|`. A still face is smoothed hard (low
cutoff: jitter goes), a moving one lightly (high cutoff: little lag). The speed itself is the derivative
low-passed at `d_cutoff`; the time step is 1/fps.

Shape coherence: all 68 points of a face share one cutoff, computed from one speed per face (the mean
speed of its points, so a turn or a nod counts as well as a slide). Points filtered with different
cutoffs would move at different lags and bend the face during motion; one shared cutoff keeps the shape
an exact blend of the raw shapes.

Scale: the speed is measured in face sizes per second (face size = the landmark box's diagonal), so a
`strength` means the same on a 100-px face as on a 1000-px one.

Tracks: faces of consecutive frames are matched greedily by the IoU of their landmark boxes (best pair
first, at least `IOU_THRESHOLD`; with several faces and identity embeddings, also by embedding distance);
an unmatched face starts a new track; a track unmatched for more than
one frame is dropped (a missed detection on one frame does not restart the filter).

DeepFaceLive's live face marker has such a temporal filter; DFL's merger has none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

IOU_THRESHOLD = 0.3
EMBEDDING_MAX_DISTANCE = 0.6  # cosine; ArcFace same-person pairs are typically < 0.5, others ~1
MAX_MISSED = 1  # frames a track may go unmatched and still continue
D_CUTOFF = 1.0  # Hz, the derivative's low-pass (the paper's default)
DEFAULT_STRENGTH = 0.5
# strength 0+ .. 1: min_cutoff (Hz) falls log-linearly, beta (Hz per face-size/s) falls linearly. Strength 0.5
# = 1 Hz, beta 15: on talking_head_d3 (benchmarks/smoothing_bench.py) ~3x less tremble, lag ~0.65 frame.
MIN_CUTOFF_RANGE = (4.0, 0.25)
BETA_RANGE = (25.0, 5.0)


@dataclass(frozen=True)
class OneEuroParams:
    """The filter's knobs: cutoff at rest (Hz), cutoff gain per face-size/s of speed, derivative cutoff (Hz)."""

    min_cutoff: float
    beta: float
    d_cutoff: float = D_CUTOFF


def params_for_strength(strength: float) -> OneEuroParams | None:
    """One-Euro parameters for a user `strength` in 0..1; None for 0 (off: the input passes unchanged).

    Stronger = lower cutoff at rest (steadier still face) and a lower speed gain (more smoothing while
    moving); log-linear in min_cutoff because perceived smoothness scales with the cutoff's ratio.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"smoothing strength {strength}: expected 0..1")
    if strength == 0.0:
        return None
    lo, hi = (math.log(v) for v in MIN_CUTOFF_RANGE)
    min_cutoff = math.exp(lo + (hi - lo) * strength)
    beta = BETA_RANGE[0] + (BETA_RANGE[1] - BETA_RANGE[0]) * strength
    return OneEuroParams(min_cutoff, beta)


def smoothing_factor(dt: float, cutoff: float) -> float:
    """Exponential-smoothing weight of the new sample for a first-order low-pass at `cutoff` Hz."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroShape:
    """One-Euro state of one face: filtered points, filtered per-point velocity (frame px per second)."""

    params: OneEuroParams
    x: np.ndarray | None = None
    dx: np.ndarray | None = None

    def __call__(self, points: np.ndarray, dt: float) -> np.ndarray:
        """The filtered (N,2) points for raw `points` arriving `dt` seconds after the previous ones."""
        pts = np.asarray(points, np.float64)
        if self.x is None or self.dx is None:
            self.x, self.dx = pts.copy(), np.zeros_like(pts)
            return pts.copy()
        a_d = smoothing_factor(dt, self.params.d_cutoff)
        self.dx = self.dx + a_d * ((pts - self.x) / dt - self.dx)
        speed = float(np.linalg.norm(self.dx, axis=1).mean()) / face_size(pts)
        a = smoothing_factor(dt, self.params.min_cutoff + self.params.beta * speed)
        self.x = self.x + a * (pts - self.x)
        return self.x.copy()


def face_size(points: np.ndarray) -> float:
    """The landmark box's diagonal (px): the unit of speed, so strength does not depend on face size."""
    span = points.max(axis=0) - points.min(axis=0)
    return max(float(np.hypot(span[0], span[1])), 1.0)


def landmark_box(points: np.ndarray) -> np.ndarray:
    """(l, t, r, b) of the points."""
    p = np.asarray(points, np.float64)
    return np.concatenate([p.min(axis=0), p.max(axis=0)])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (l, t, r, b) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return 1.0 - float(a @ b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12)


def greedy_match(prev_boxes: Sequence[np.ndarray], boxes: Sequence[np.ndarray],
                 threshold: float = IOU_THRESHOLD,
                 prev_embeddings: Sequence[np.ndarray | None] | None = None,
                 embeddings: Sequence[np.ndarray | None] | None = None) -> dict[int, int]:
    """{index in `boxes`: index in `prev_boxes`}, best pair first, each used once, IoU >= threshold.

    With several faces and embeddings on both sides, a pair whose identities differ (cosine distance above
    `EMBEDDING_MAX_DISTANCE`) is never matched, and the pair score is IoU minus the distance, so two faces
    crossing (boxes overlapping both ways) keep their own tracks."""
    use_emb = (len(boxes) > 1 or len(prev_boxes) > 1) and prev_embeddings is not None and embeddings is not None
    pairs = []
    for i, b in enumerate(boxes):
        for j, p in enumerate(prev_boxes):
            iou = box_iou(p, b)
            if iou < threshold:
                continue
            score = iou
            if use_emb and prev_embeddings[j] is not None and embeddings[i] is not None:  # type: ignore[index]
                dist = _cosine_distance(prev_embeddings[j], embeddings[i])  # type: ignore[index,arg-type]
                if dist > EMBEDDING_MAX_DISTANCE:
                    continue
                score -= dist
            pairs.append((score, j, i))
    out: dict[int, int] = {}
    used: set[int] = set()
    for _score, j, i in sorted(pairs, reverse=True):
        if i in out or j in used:
            continue
        out[i] = j
        used.add(j)
    return out


@dataclass
class _Track:
    filt: OneEuroShape
    box: np.ndarray
    last: int  # frame index last seen
    embedding: np.ndarray | None = None


@dataclass
class LandmarkSmoother:
    """Smooths the faces of a video frame by frame (call `smooth` in frame order).

    `strength` 0 makes `smooth` return its input unchanged (the same arrays), so an off smoother is exactly
    the unsmoothed pipeline.
    """

    fps: float = 25.0
    strength: float = DEFAULT_STRENGTH
    tracks: list[_Track] = field(default_factory=list)
    _params: OneEuroParams | None = field(init=False, default=None)
    _last_index: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not self.fps > 0:
            self.fps = 25.0  # an unknown rate: the common video rate is a better guess than none
        self._params = params_for_strength(self.strength)

    @property
    def enabled(self) -> bool:
        return self._params is not None

    def smooth(self, faces: Sequence[np.ndarray], index: int | None = None,
               embeddings: Sequence[np.ndarray | None] | None = None) -> list[np.ndarray]:
        """Smoothed (68,2) landmarks of one frame's faces, same order; `index` = frame number (gaps allowed:
        a track unseen for more than `MAX_MISSED` frames restarts), default the next frame; `embeddings`
        (identity vectors per face, or None) help matching when there are several faces."""
        if self._params is None:
            return list(faces)
        if index is None:
            index = 0 if self._last_index is None else self._last_index + 1
        self._last_index = index
        self.tracks = [t for t in self.tracks if index - t.last <= MAX_MISSED + 1 and t.last < index]
        boxes = [landmark_box(f) for f in faces]
        embs = list(embeddings) if embeddings is not None else [None] * len(boxes)
        match = greedy_match([t.box for t in self.tracks], boxes, IOU_THRESHOLD,
                             [t.embedding for t in self.tracks], embs)
        out: list[np.ndarray] = []
        new_tracks: list[_Track] = []
        for i, (pts, box) in enumerate(zip(faces, boxes, strict=True)):
            if i in match:
                track = self.tracks[match[i]]
                dt = (index - track.last) / self.fps
            else:
                track = _Track(OneEuroShape(self._params), box, index)
                new_tracks.append(track)
                dt = 1.0 / self.fps
            out.append(track.filt(pts, dt))
            track.box, track.last = box, index
            if embs[i] is not None:
                track.embedding = np.asarray(embs[i])
        self.tracks.extend(new_tracks)
        return out


def smooth_track(frames: Sequence[Sequence[np.ndarray]], fps: float, strength: float = DEFAULT_STRENGTH
                 ) -> list[list[np.ndarray]]:
    """A whole video's faces (per frame, a list of (68,2) arrays), smoothed in one go."""
    sm = LandmarkSmoother(fps, strength)
    return [sm.smooth(f, i) for i, f in enumerate(frames)]


# --- measurement (benchmarks/smoothing_bench.py, benchmarks/detect_quality.py, tests) ------------------------

def crop_corners(landmarks: np.ndarray, face_type: str = "whole_face", size: int = 256) -> np.ndarray:
    """The 4 corners of the DFL aligned crop mapped back into the frame: what a merged face's placement
    follows, so their motion is the visible jitter."""
    from neuface.dfl.align import crop_outline, get_transform_mat

    return crop_outline(get_transform_mat(np.asarray(landmarks, np.float64), size, face_type), size).astype(np.float64)


def corner_track(landmarks: Sequence[np.ndarray], face_type: str = "whole_face") -> np.ndarray:
    """(T, 4, 2) crop corners of a single-face track."""
    return np.stack([crop_corners(lm, face_type) for lm in landmarks])


def corner_motion(corners: np.ndarray) -> np.ndarray:
    """(T-1,) mean frame-to-frame corner displacement (px)."""
    return np.linalg.norm(np.diff(corners, axis=0), axis=2).mean(axis=1)


def window_by_motion(raw_corners: np.ndarray, window: int, calmest: bool = True) -> slice:
    """Frames of the `window`-frame stretch with the least (or most) raw corner motion."""
    motion = corner_motion(raw_corners)
    if len(motion) < window:
        return slice(0, len(raw_corners))
    sums = np.convolve(motion, np.ones(window - 1), "valid")  # window frames = window-1 steps
    start = int(np.argmin(sums) if calmest else np.argmax(sums))
    return slice(start, start + window)


def jitter(corners: np.ndarray) -> float:
    """Mean frame-to-frame change of the corners' velocity (px/frame², the second difference): what the eye
    sees as trembling. Plain frame-to-frame motion would count the head's real motion too: on the calmest
    second of talking_head_d3 a zero-lag offline smoothing (Gaussian, sigma 2 frames) still moves ~1 px/frame,
    so no filter could halve it without removing motion; a smooth motion has a second difference near 0."""
    return float(np.linalg.norm(np.diff(corners, n=2, axis=0), axis=2).mean())


def motion(corners: np.ndarray) -> float:
    """Mean frame-to-frame corner motion (px/frame): jitter plus real motion (reported beside `jitter`)."""
    return float(corner_motion(corners).mean())


def jitter_ratio(raw_corners: np.ndarray, smooth_corners: np.ndarray, window: int) -> tuple[float, float, float]:
    """(raw jitter, smoothed jitter, raw/smoothed) on the calmest `window` frames of the raw track."""
    w = window_by_motion(raw_corners, window, calmest=True)
    r, s = jitter(raw_corners[w]), jitter(smooth_corners[w])
    return r, s, r / max(s, 1e-12)


def _shift_error(raw: np.ndarray, smooth: np.ndarray, w: slice, k: int) -> float:
    """Mean squared corner distance between smoothed frames `w` and raw frames `w` shifted back by `k`
    (squared: smooth in k, so the parabola fits)."""
    lo, hi = w.start - k, w.stop - k
    if lo < 0 or hi > len(raw):
        return math.inf
    return float(((smooth[w] - raw[lo:hi]) ** 2).sum(axis=2).mean())


def lag_frames(raw_corners: np.ndarray, smooth_corners: np.ndarray, window: int, max_shift: int = 5) -> float:
    """How many frames the smoothed track trails the raw one on the fastest `window` frames: the shift k
    minimising |smooth[t] - raw[t-k]|, sub-frame by a parabola through the best integer shift and its two
    neighbours (a lag is what the eye sees as a face sliding behind the head)."""
    w = window_by_motion(raw_corners, window, calmest=False)
    margin = max_shift + 1  # keep every shifted window inside the video
    start = min(max(w.start, margin), max(len(raw_corners) - window - margin, margin))
    w = slice(start, min(start + window, len(raw_corners)))
    shifts = list(range(-max_shift, max_shift + 1))
    errs = np.array([_shift_error(raw_corners, smooth_corners, w, k) for k in shifts])
    b = int(np.argmin(errs))
    if 0 < b < len(errs) - 1 and np.isfinite(errs[b - 1:b + 2]).all():
        e0, e1, e2 = errs[b - 1:b + 2]
        den = e0 - 2 * e1 + e2
        return float(shifts[b] + (0.5 * (e0 - e2) / den if den > 0 else 0.0))
    return float(shifts[b])
