"""`neuface detect --smooth`: the second pass (neuface.detect.smooth_pass) on real frames of one video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.detect.options import DetectConfig
from neuface.detect.pipeline import run_detect
from neuface.detect.smooth_pass import SMOOTHED_KEY, written_corner_track
from neuface.detect.smoothing import LandmarkSmoother
from neuface.dfl.align import crop_outline, get_transform_mat, transform_points
from neuface.faceset import dfljpg
from neuface.merge.faces import StoredFaces
from neuface.workspace import Side, Workspace

N_FRAMES = 12


@pytest.fixture(scope="module")
def frames(real_media: Path, tmp_path_factory) -> Path:
    """The first frames of talking_head_d3 as extract writes them (00001.png ...), in a temp folder."""
    from neuface.extract.video import VideoSource

    folder = tmp_path_factory.mktemp("d3_frames")
    with VideoSource(real_media / "talking_head_d3.mp4") as src:
        for d in src.frames():
            cv2.imwrite(str(folder / f"{d.index:05d}.png"), d.to_bgr())
            if d.index >= N_FRAMES:
                break
    return folder


def _detect(tmp_path: Path, frames: Path, name: str, smooth: bool) -> Workspace:
    ws = Workspace.at(tmp_path / name)
    ws.frames_dir(Side.dst).mkdir(parents=True)
    for p in frames.iterdir():
        (ws.frames_dir(Side.dst) / p.name).write_bytes(p.read_bytes())
    cfg = DetectConfig(backend="dlib", identity=False, workers=1, smooth=smooth, smooth_fps=25.0)
    run_detect(ws, Side.dst, cfg)
    return ws


def test_detect_smooth_rewrites_faces_from_smoothed_landmarks(tmp_path, frames) -> None:
    raw_ws = _detect(tmp_path, frames, "raw", smooth=False)
    sm_ws = _detect(tmp_path, frames, "smooth", smooth=True)
    names = sorted(p.name for p in raw_ws.aligned_dir(Side.dst).glob("*.jpg"))
    assert names == sorted(p.name for p in sm_ws.aligned_dir(Side.dst).glob("*.jpg")) and len(names) == N_FRAMES

    raw = [dfljpg.read_parsed(raw_ws.aligned_dir(Side.dst) / n) for n in names]
    got = [dfljpg.read_parsed(sm_ws.aligned_dir(Side.dst) / n) for n in names]
    # the pass is exactly the in-memory smoother over the detected landmarks, in frame order
    expect = LandmarkSmoother(25.0, 0.5)
    changed = 0
    for i, (r, g) in enumerate(zip(raw, got, strict=True)):
        lm = expect.smooth([np.asarray(r.meta.source_landmarks, np.float64)], i + 1)[0]
        assert np.allclose(g.meta.source_landmarks, lm, atol=1e-9)
        # DFL-consistent metadata: matrix and aligned landmarks follow the smoothed source landmarks
        mat = get_transform_mat(np.asarray(g.meta.source_landmarks, np.float64), g.shape[0], "whole_face")
        assert np.allclose(g.meta.image_to_face_mat, mat, atol=1e-6)
        assert np.allclose(g.meta.landmarks, transform_points(lm, mat), atol=1e-3)
        assert g.meta.face_type == "whole_face" and g.meta.source_filename == r.meta.source_filename
        assert np.array_equal(g.meta.source_rect, r.meta.source_rect)  # the detector box stays as detected
        assert g.shape == r.shape
        changed += not np.array_equal(g.meta.source_landmarks, r.meta.source_landmarks)
    # frame 1 starts the track (passes raw); every later frame of a talking head moves a little
    assert np.array_equal(got[0].meta.source_landmarks, raw[0].meta.source_landmarks) and changed >= N_FRAMES // 2
    # The re-warped crop is the raw one moved by the smoothing's correction (a pixel or two of the frame, a few
    # px of the 512-px crop, plus JPEG re-encoding): measured 5.2-8.2 grey levels mean. On this clip a crop
    # shifted by 4 px differs from itself by 6.6, by 10 px by 14.3, and frame 1's crop from frame 12's by 47;
    # so 0 would mean no re-warp and the bound 14 catches a crop placed 10+ px off.
    diffs = [_mean_diff(sm_ws.aligned_dir(Side.dst) / n, raw_ws.aligned_dir(Side.dst) / n) for n in names[1:]]
    assert 0 < max(diffs) < 14, diffs
    # every face is marked, so merge does not smooth these stored faces a second time (lags would add up)
    assert all(g.meta.extra[SMOOTHED_KEY] == 0.5 for g in got) and all(SMOOTHED_KEY not in r.meta.extra for r in raw)
    assert StoredFaces.load(sm_ws.aligned_dir(Side.dst)).smoothed
    corners = written_corner_track(sm_ws.aligned_dir(Side.dst))  # the measure reads the stored matrices
    assert corners.shape == (N_FRAMES, 4, 2)
    assert np.allclose(corners[-1], crop_outline(np.asarray(got[-1].meta.image_to_face_mat), got[-1].shape[0]))
    assert not StoredFaces.load(raw_ws.aligned_dir(Side.dst)).smoothed
    debug = sm_ws.aligned_debug_dir(Side.dst)
    assert len(list(debug.iterdir())) == N_FRAMES  # redrawn in place, none added or lost
    assert _mean_diff(debug / "00001.jpg", raw_ws.aligned_debug_dir(Side.dst) / "00001.jpg") == 0


def _mean_diff(a: Path, b: Path) -> float:
    """Mean absolute difference (grey levels) of two image files."""
    return float(np.abs(cv2.imread(str(a)).astype(int) - cv2.imread(str(b)).astype(int)).mean())


def test_run_detect_step_takes_smooth_from_the_config(tmp_path) -> None:
    """`[detect.dst] smooth = true` reaches the detect step; a config without it keeps old stamps up to date
    (the option enters the step's fingerprint only when on)."""
    from test_run import CONFIG, _run, _steps, _ws

    ws = _ws(tmp_path / "ws")
    assert _run(ws, "--until", "detect") == 0
    assert _run(ws, "--until", "detect") == 0
    assert _steps(ws)["detect dst"]["status"] == "skipped"  # smooth off: same fingerprint as before
    (ws / "neuface.toml").write_text(CONFIG + "[detect.dst]\nsmooth = true\n")
    assert _run(ws, "--until", "detect") == 0
    steps = _steps(ws)
    assert steps["detect src"]["status"] == "skipped" and steps["detect dst"]["status"] == "done"
    assert "smooth None -> True" in steps["detect dst"]["reason"]


def test_embeddings_keep_crossed_faces_on_their_tracks() -> None:
    """Two overlapping faces swap sides between frames: box overlap alone pairs each with the other's track,
    the identity embeddings (unrelated people: orthogonal vectors, cosine distance 1) pair them right."""
    from neuface.detect.smoothing import greedy_match

    def box(x: float) -> np.ndarray:
        return np.array([x, 0.0, x + 100.0, 100.0])

    prev, now = [box(100), box(140)], [box(135), box(105)]  # face 0 moved right past face 1
    e0, e1 = np.eye(2)
    assert greedy_match(prev, now) == {0: 1, 1: 0}  # IoU 0.86 beats 0.48: the wrong pairing
    assert greedy_match(prev, now, prev_embeddings=[e0, e1], embeddings=[e0, e1]) == {0: 0, 1: 1}
    # one face each side: embeddings are not needed and not used (a re-detected face keeps its track)
    assert greedy_match([box(100)], [box(105)], prev_embeddings=[e0], embeddings=[e1]) == {0: 0}


def test_merge_does_not_smooth_faces_detect_smoothed(tmp_path, real_media: Path) -> None:
    """extract -> detect --smooth -> merge: the stored faces are used as smoothed, so merge's default --smooth
    gives exactly the --no-smooth frames (a second filter would only add lag)."""
    from neuface.cli import main
    from test_merge import CLIP_FRAMES, _trim, identity_dfm

    root = tmp_path / "ws"
    root.mkdir()
    _trim(real_media / "talking_head_tpsmm.mp4", root / "data_dst.mp4", CLIP_FRAMES)
    assert main(["--workspace", str(root), "extract", "dst"]) == 0
    assert main(["--workspace", str(root), "detect", "dst", "--backend", "dlib", "--smooth", "--no-identity"]) == 0
    dfm = identity_dfm(tmp_path / "id.dfm", 96)
    outs = []
    for flag in ("--smooth", "--no-smooth"):
        frames = tmp_path / flag.strip("-")
        assert main(["--workspace", str(root), "merge", "--faces", "stored", "--dfm", str(dfm), "--no-label",
                     "--mask-mode", "full", "--frames-dir", str(frames), flag]) == 0
        outs.append([cv2.imread(str(p)) for p in sorted(frames.glob("*.png"))])
    assert len(outs[0]) == CLIP_FRAMES and all(np.array_equal(a, b) for a, b in zip(*outs, strict=True))
