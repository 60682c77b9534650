"""`neuface merge --motion-blur`: DFL's motion estimate (previous to next frame), its line kernel, the
streaming one-batch lookahead, and a real merge of a face that moves sideways."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from neuface.cli import main
from neuface.dfl.align import get_transform_mat
from neuface.extract.video import VideoSource
from neuface.merge.faces import FrameFace
from neuface.merge.motion import (
    Motion,
    assign_motion,
    face_centre,
    frame_motion,
    kernel_size,
    motion_blur,
    motion_kernel,
    set_motion_from_neighbours,
)
from neuface.merge.options import MergeOptions
from neuface.merge.paste import FaceResult, merge_face
from test_merge import identity_dfm


@pytest.fixture(scope="module")
def landmarks(dfl_fixtures: Path) -> np.ndarray:
    from neuface.faceset import dfljpg

    meta = dfljpg.read_meta(sorted((dfl_fixtures / "aligned").glob("*.jpg"))[0])
    return np.asarray(meta.source_landmarks, np.float64)


def test_kernel_is_a_normalised_line_at_the_motion_angle() -> None:
    flat = motion_kernel(5, 0.0)
    assert flat.sum() == pytest.approx(1.0) and np.allclose(flat[2], 0.2) and flat[[0, 1, 3, 4]].sum() == 0
    upright = motion_kernel(5, 90.0)
    assert upright.sum() == pytest.approx(1.0) and np.allclose(upright[:, 2], 0.2, atol=1e-6)
    assert abs(upright.sum() - upright[:, 2].sum()) < 1e-6
    dot = np.zeros((21, 21, 3), np.float32)
    dot[10, 10] = 1.0
    smeared = motion_blur(dot, 7, 0.0)[..., 0]
    assert np.count_nonzero(smeared[10]) == 7 and np.count_nonzero(smeared) == 7  # along x only


def test_motion_follows_the_face_centre(landmarks) -> None:
    assert np.allclose(face_centre(landmarks + [5.0, -2.0]), face_centre(landmarks) + [5.0, -2.0], atol=1e-3)
    right = frame_motion(landmarks - [3.0, 0.0], landmarks + [3.0, 0.0])
    assert right.power == pytest.approx(6.0, abs=1e-3) and right.degrees == pytest.approx(0.0, abs=1e-3)
    down = frame_motion(landmarks, landmarks + [0.0, 8.0])  # image y grows downward: -90 degrees
    assert down.power == pytest.approx(8.0, abs=1e-3) and down.degrees == pytest.approx(-90.0, abs=1e-3)
    assert frame_motion(landmarks, landmarks) == Motion(0.0, 0.0)
    assert kernel_size(Motion(10.0, 0.0), 50) == 6  # int(10 * 0.5) + 1
    assert kernel_size(Motion(10.0, 0.0), 5) == 0  # under one pixel: no blur
    assert kernel_size(Motion(1.0, 0.0), 100) == 2 and kernel_size(Motion(500.0, 0.0), 100) == 50


def _video_faces(landmarks: np.ndarray, offsets: list[float | None], doubles: tuple[int, ...] = ()) -> list:
    frames = []
    for i, dx in enumerate(offsets):
        faces = [] if dx is None else [FrameFace(landmarks + [dx, 0.0])]
        if i in doubles:
            faces.append(FrameFace(landmarks + [400.0, 0.0]))
        frames.append(faces)
    return frames


def test_streaming_lookahead_matches_whole_video_estimate(landmarks) -> None:
    offsets: list[float | None] = [0.0, 2.0, 4.0, None, 8.0, 10.0, 12.0, 14.0, 16.0, 30.0]
    frames = _video_faces(landmarks, offsets, doubles=(6,))
    batches = [frames[i:i + 3] for i in range(0, len(frames), 3)]
    out = list(assign_motion(iter(batches), lambda b: b))
    assert out == batches  # the same batches, in order (one batch late)
    streamed = [f[0].motion if f else None for f in frames]

    again = _video_faces(landmarks, offsets, doubles=(6,))
    set_motion_from_neighbours(dict(enumerate(again, start=1)), range(1, len(again) + 1))
    assert [f[0].motion if f else None for f in again] == streamed

    power = [None if m is None else round(m.power, 3) for m in streamed]
    # First frame: itself then frame 2; a frame beside a faceless or two-face frame gets none; the last
    # frame of a batch (index 8) sees the next batch's first; the video's last frame stands for its next.
    assert power == [2.0, 4.0, None, None, None, None, None, None, 16.0, 14.0]


def test_motion_blur_smears_the_pasted_face_along_the_motion(landmarks) -> None:
    x1, y1 = (landmarks.max(0) * 1.6).astype(int) + 64
    yy, xx = np.mgrid[:y1, :x1]
    opts = MergeOptions(label=False, color_transfer="none", mask_mode="full", motion_blur=100)
    face = cv2.boundingRect(cv2.convexHull(landmarks.astype(np.int32)))
    x, y, w, h = face
    for bars_along, varying_axis in (("x", 1), ("y", 0)):  # bars that vary along x are what an x-motion smears
        wave = np.sin((xx if bars_along == "x" else yy) * (2 * np.pi / 24))
        frame = np.repeat(np.uint8(np.rint(127 + 100 * wave))[..., None], 3, axis=2)
        crop = cv2.warpAffine(frame, get_transform_mat(landmarks, 64, "whole_face"), (64, 64),
                              flags=cv2.INTER_CUBIC).astype(np.float32) / 255
        still, moving, slow = frame.copy(), frame.copy(), frame.copy()
        for out, motion in ((still, None), (moving, Motion(12.0, 0.0)), (slow, Motion(0.4, 0.0))):
            job = FaceResult(landmarks, "whole_face", crop, crop, np.ones((64, 64), np.float32), motion)
            merge_face(out, job, opts, np.random.default_rng(0))
        detail = [float(np.abs(np.diff(a[y:y + h, x:x + w].astype(np.float32), axis=varying_axis)).mean())
                  for a in (still, moving)]
        if bars_along == "x":
            assert detail[1] < 0.5 * detail[0]  # a horizontal motion washes vertical bars out
        else:
            assert detail[1] > 0.9 * detail[0]  # and leaves horizontal bars alone
        assert np.array_equal(slow, still)  # under a pixel of motion: no blur at all


def _sliding_clip(src: Path, dst: Path, n: int, step: tuple[int, int]) -> None:
    """`n` frames of `src`, the k-th shifted by k*step pixels (a face that moves steadily)."""
    frames = []
    with VideoSource(src) as vs:
        for d in vs.frames():
            if len(frames) == n:
                break
            img = d.to_bgr()
            k = len(frames)
            shift = np.float32([[1, 0, step[0] * k], [0, 1, step[1] * k]])
            frames.append(cv2.warpAffine(img, shift, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE))
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for img in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")))
        out.mux(stream.encode(None))


@pytest.mark.parametrize(("step", "along"), [((6, 0), 1), ((0, 6), 0)])
def test_merge_blurs_a_moving_face_along_its_motion(tmp_path: Path, real_media: Path, step, along) -> None:
    clip = tmp_path / "sliding.mp4"
    _sliding_clip(real_media / "talking_head_tpsmm.mp4", clip, 6, step)
    dfm = identity_dfm(tmp_path / "identity.dfm", 128)
    runs = {}
    for power in (0, 100):
        out = tmp_path / f"merged_{power}"
        assert main(["--workspace", str(tmp_path / "ws"), "merge", str(clip), "--dfm", str(dfm), "--frames-dir",
                     str(out), "--no-label", "--mask-mode", "full", "--color-transfer", "none",
                     "--motion-blur", str(power), "--batch-size", "4"]) == 0
        runs[power] = [cv2.imread(str(p)).astype(np.float32) for p in sorted(out.glob("*.png"))]
    assert len(runs[0]) == len(runs[100]) == 6
    for still, moving in zip(runs[0], runs[100], strict=True):
        changed = np.abs(moving - still).max(axis=2) > 8
        ys, xs = np.nonzero(changed)
        assert len(ys) > 1000  # every frame moves 6-12 px between its neighbours: all are blurred
        box = np.s_[ys.min():ys.max(), xs.min():xs.max()]
        kept = [float(np.abs(np.diff(moving[box], axis=a)).mean() / np.abs(np.diff(still[box], axis=a)).mean())
                for a in (along, 1 - along)]
        # smeared along the motion more than across (measured: 0.48-0.67 along, 0.66-0.80 across)
        assert kept[0] < 0.75 and kept[0] < kept[1] - 0.05, kept


def test_preview_blurs_with_the_neighbouring_frames(tmp_path: Path, real_media: Path) -> None:
    clip = tmp_path / "sliding.mp4"
    _sliding_clip(real_media / "talking_head_tpsmm.mp4", clip, 6, (6, 0))
    dfm = identity_dfm(tmp_path / "identity.dfm", 128)
    sheets = {}
    for power in (0, 100):
        sheet = tmp_path / f"preview_{power}.png"
        assert main(["--workspace", str(tmp_path / "ws"), "merge", str(clip), "--dfm", str(dfm), "--preview", "2",
                     "--preview-file", str(sheet), "--no-label", "--mask-mode", "full", "--color-transfer", "none",
                     "--motion-blur", str(power)]) == 0
        sheets[power] = cv2.imread(str(sheet)).astype(np.float32)
    with VideoSource(clip) as vs:  # the sheet is before | after per row, 8 px apart
        w = vs.info.width
    before = np.abs(sheets[100][:, : w + 8] - sheets[0][:, : w + 8]).max()
    after = np.abs(sheets[100][:, w + 8:] - sheets[0][:, w + 8:]).max(axis=2)
    assert before == 0 and (after > 8).sum() > 2000  # only the merged frames, and they are blurred
