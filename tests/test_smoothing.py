"""Temporal landmark smoothing (neuface.detect.smoothing): hand-computed One-Euro cases, face tracks, the
jitter/lag figures on real video, and `neuface merge --smooth` against `--no-smooth` on a real clip."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.cli import main
from neuface.detect.smoothing import (
    DEFAULT_STRENGTH,
    LandmarkSmoother,
    OneEuroParams,
    OneEuroShape,
    box_iou,
    corner_track,
    greedy_match,
    jitter_ratio,
    lag_frames,
    motion,
    params_for_strength,
    smooth_track,
    smoothing_factor,
    window_by_motion,
)
from neuface.merge.faces import FrameFace, smooth_faces
from test_merge import _trim, identity_dfm

FPS = 25.0


def _face(cx: float = 200.0, cy: float = 200.0, size: float = 100.0) -> np.ndarray:
    """A (68,2) point cloud filling a `size` box around (cx, cy), fixed pattern."""
    rng = np.random.default_rng(0)
    return np.array([cx, cy]) + (rng.random((68, 2)) - 0.5) * size


def test_smoothing_factor_is_the_first_order_low_pass() -> None:
    # tau = 1/(2 pi fc); alpha = 1/(1 + tau/dt): at fc = 1/(2 pi dt) tau equals dt, so alpha = 1/2
    dt = 1 / FPS
    assert smoothing_factor(dt, 1 / (2 * math.pi * dt)) == pytest.approx(0.5)
    assert smoothing_factor(dt, 1.0) == pytest.approx(1 / (1 + FPS / (2 * math.pi)))


def test_constant_input_stays_constant_and_a_step_converges() -> None:
    face = _face()
    f = OneEuroShape(OneEuroParams(1.0, 0.0))
    for _ in range(10):
        assert np.array_equal(f(face, 1 / FPS), face)
    # beta 0: a plain exponential filter with alpha = 1/(1 + 25/(2 pi)); after n frames the step has
    # (1 - alpha)^n left
    a = smoothing_factor(1 / FPS, 1.0)
    out = [f(face + [10.0, 0.0], 1 / FPS) for _ in range(60)]
    assert out[0][0, 0] - face[0, 0] == pytest.approx(10 * a)
    assert out[4][0, 0] - face[0, 0] == pytest.approx(10 * (1 - (1 - a) ** 5))
    assert np.allclose(out[-1], face + [10.0, 0.0], atol=10 * (1 - a) ** 60 + 1e-9)
    moved = out[10] - face  # one cutoff for all points: the face moves as a whole, shape kept
    assert np.allclose(moved, moved[0])


def test_larger_beta_lags_less_on_a_ramp() -> None:
    face = _face()
    lags = []
    for beta in (0.0, 5.0, 50.0):
        f = OneEuroShape(OneEuroParams(1.0, beta))
        for t in range(100):  # 2 face sizes per second to the right
            out = f(face + [200.0 * t / FPS, 0.0], 1 / FPS)
        lags.append(200.0 * 99 / FPS - (out - face)[0, 0])
    assert lags[0] > lags[1] > lags[2] > 0


def test_strength_zero_is_identity() -> None:
    assert params_for_strength(0.0) is None
    frames = [[_face(200 + i, 200)] for i in range(5)]
    sm = LandmarkSmoother(FPS, 0.0)
    assert not sm.enabled
    assert all(sm.smooth(f)[0] is f[0] for f in frames)  # the very same arrays
    faces = [[FrameFace(f[0])] for f in frames]
    assert smooth_faces(sm, range(5), faces) == faces and smooth_faces(None, range(5), faces) == faces
    a, b = params_for_strength(0.25), params_for_strength(1.0)
    assert a is not None and b is not None and a.min_cutoff > b.min_cutoff and a.beta > b.beta
    with pytest.raises(ValueError):
        params_for_strength(1.5)


def test_iou_and_greedy_matching() -> None:
    a = np.array([0.0, 0.0, 10.0, 10.0])
    assert box_iou(a, a) == 1.0 and box_iou(a, a + 20) == 0.0
    assert box_iou(a, np.array([5.0, 0.0, 15.0, 10.0])) == pytest.approx(50 / 150)
    # the best pair wins first, then the rest; a box under the threshold matches nothing
    prev = [a, a + [8, 0, 8, 0]]
    now = [a + [1, 0, 1, 0], a + [7, 0, 7, 0], a + [100, 0, 100, 0]]
    assert greedy_match(prev, now) == {0: 0, 1: 1}


def test_crossing_faces_keep_their_tracks() -> None:
    """Two faces pass each other (their boxes overlap mid-way, list order swaps): each output follows its own
    input, smoothed, never jumping to the other face."""
    sm = LandmarkSmoother(FPS, DEFAULT_STRENGTH)
    for t in range(40):
        x = 8.0 * t
        left, right = _face(100 + x, 200), _face(420 - x, 205)
        faces = [left, right] if t % 2 else [right, left]  # the detector's order changes
        out = sm.smooth(faces, t)
        for raw, got in zip(faces, out, strict=True):
            assert np.abs(got - raw).max() < 10.0  # its own face (the other is up to 320 px away)
    assert len(sm.tracks) == 2


def test_tracks_survive_one_missed_frame_only() -> None:
    sm = LandmarkSmoother(FPS, 1.0)
    face = _face()
    sm.smooth([face], 0)
    sm.smooth([], 1)
    assert np.array_equal(sm.smooth([face + [3.0, 0.0]], 2)[0], face + [3.0, 0.0]) is False  # filtered: same track
    sm.smooth([], 3)
    sm.smooth([], 4)
    assert np.array_equal(sm.smooth([face + [6.0, 0.0]], 5)[0], face + [6.0, 0.0])  # new track: raw


@pytest.fixture(scope="module")
def real_landmarks(real_media: Path) -> tuple[np.ndarray, float]:
    """The largest face's landmarks on the first 100 frames of talking_head_d3 (~4 s, detected here)."""
    from neuface.detect.backends import DetectOptions, create_backend
    from neuface.detect.faces import select_faces
    from neuface.extract.video import VideoSource

    det = create_backend("auto", DetectOptions(with_embeddings=False))
    out = []
    with VideoSource(real_media / "talking_head_d3.mp4") as src:
        fps = float(src.info.rate)
        for d in src.frames():
            out.append(np.asarray(select_faces(det.detect_batch([d.to_bgr()])[0], 1)[0].landmarks, np.float64))
            if len(out) == 100:
                break
    return np.stack(out), fps


def test_real_video_less_tremble_under_one_frame_lag(real_landmarks) -> None:
    """Default strength on a real talking head, 1 s windows. Measured (benchmarks/smoothing_bench.py) on
    these 100 frames: jitter (tremble, the corners' second difference) 3.5x less, frame-to-frame motion 1.33x
    less, lag 0.70 frame; on all 354 frames 3.4x, 1.33x, 0.66. Tolerances: the goals themselves (jitter >= 2x,
    lag < 1 frame), which the figures clear by ~40 % and ~30 %: room for a detector update's different noise,
    while a broken filter (off: 1x; too strong: lag > 1) fails. Frame-to-frame motion cannot halve on this
    video: its calmest second really moves ~1 px/frame (an offline centred Gaussian, sigma 3 frames, only
    gets 1.38x), so it is only required to drop clearly (1.15x, half the measured gain)."""
    lms, fps = real_landmarks
    window = int(round(fps))
    raw = corner_track(list(lms))
    sm = corner_track([f[0] for f in smooth_track([[lm] for lm in lms], fps)])
    assert jitter_ratio(raw, sm, window)[2] >= 2.0  # second difference (tremble)
    calm = window_by_motion(raw, window)
    assert motion(raw[calm]) / motion(sm[calm]) >= 1.15  # frame-to-frame motion
    lag = lag_frames(raw, sm, window)
    assert 0.0 < lag < 1.0
    # the measure itself: ~0 against itself (the parabola through an asymmetric error curve is off by ~0.01)
    assert abs(lag_frames(raw, raw, window)) < 0.05


def test_still_head_jitter_at_least_halved(real_media) -> None:
    """A still head as a static camera films it: frame 100 of talking_head_d3 held for 45 frames, fresh sensor
    noise (sigma 3/255) and a JPEG round trip each (benchmarks/smoothing_bench.py --still). The true motion is
    zero, so the plain frame-to-frame corner motion is all jitter, and the issue's goal (>= 2x less) applies
    to it directly. Measured: 0.84 -> 0.125 px/frame (6.7x, 90 frames). Tolerance from the filter's maths: a
    first-order low-pass y += a (x - y) over white jitter leaves a frame-difference RMS of a / sqrt(2 - a)
    of the input's; at rest (1 Hz cutoff, 30 fps) a = 0.173, i.e. 7.8x less, and 2x less needs
    a <= 0.593 (a^2 = (2 - a) / 4), an effective cutoff <= 7 Hz. So the test fails when the filter smooths a
    still head 7x more weakly than designed, whatever the detector's noise level; the beta term (cutoff
    rising with the jitter's own speed) is why 6.7 < 7.8."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from smoothing_bench import measure_still, still_landmarks

    lms, fps = still_landmarks(real_media / "talking_head_d3.mp4", 100, 45)
    raw, smoothed = measure_still(lms, fps, DEFAULT_STRENGTH)
    assert raw > 0.2  # the noise really makes the detector jitter (else the ratio means nothing)
    assert raw / smoothed >= 2.0
    # the same clip unsmoothed is the raw track: strength 0 is identity
    assert measure_still(lms, fps, 0.0) == (raw, raw)


def test_merge_smooth_vs_no_smooth(tmp_path, real_media) -> None:
    """Both run; the first frame (a track's first sample passes raw) is identical, later frames differ only
    slightly: the face moves by the smoothing's sub-pixel-to-pixel correction, not elsewhere."""
    clip = tmp_path / "dst.mp4"
    _trim(real_media / "talking_head_d3.mp4", clip, 10)
    dfm = identity_dfm(tmp_path / "identity.dfm", 128)
    outs = {}
    for flag in ("--smooth", "--no-smooth"):
        d = tmp_path / flag.strip("-")
        assert main(["--workspace", str(tmp_path / "ws"), "merge", str(clip), "--dfm", str(dfm), "--frames-dir",
                     str(d), "--no-label", "--mask-mode", "full", "--color-transfer", "none", flag]) == 0
        outs[flag] = [cv2.imread(str(p)).astype(int) for p in sorted(d.glob("*.png"))]
    a, b = outs["--smooth"], outs["--no-smooth"]
    assert len(a) == len(b) == 10
    assert np.array_equal(a[0], b[0])
    diffs = [float(np.abs(x - y).mean()) for x, y in zip(a[1:], b[1:], strict=True)]
    assert max(diffs) > 0.0  # smoothing did something
    # ... and only a little: measured <= 2.2 grey levels (whole-frame mean), nearly all at hair edges and the crop
    # border: the 128-px model crop samples the 512-px frame 4x down and back, so a sub-pixel shift of the crop
    # changes the aliasing there; a misplaced face would differ by tens of levels over the whole face
    assert max(diffs) < 4.0, diffs
    cv2.imwrite(str(tmp_path / "smoothed_frame.png"), a[-1].astype(np.uint8))


def test_smooth_options_reach_the_merge_table() -> None:
    """neuface.toml's [merge] takes the merge options: on by default, settable."""
    from neuface.pipeline.params import stage_options

    default = stage_options("merge", None)
    assert (default.smooth, default.smooth_strength) == (True, DEFAULT_STRENGTH)
    got = stage_options("merge", {"smooth": False, "smooth_strength": 0.3})
    assert got.smooth is False and got.smooth_strength == 0.3
