"""DFL's rotation retries: sideways and upside-down frames give the upright frame's face, mapped back exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from neuface.detect.options import DetectConfig
from neuface.detect.pipeline import run_detect
from neuface.detect.rotation import ROTATIONS, rotate_frame, unrotate_points
from neuface.faceset import dfljpg
from neuface.workspace import Side, Workspace

CV2_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


def forward(points: np.ndarray, rotate: int, h: int, w: int) -> np.ndarray:
    """Where a point of an (h, w) frame lands when the frame is turned clockwise by `rotate` (by hand)."""
    x, y = points[:, 0], points[:, 1]
    return {0: np.stack([x, y], 1), 90: np.stack([h - 1 - y, x], 1),
            180: np.stack([w - 1 - x, h - 1 - y], 1), 270: np.stack([y, w - 1 - x], 1)}[rotate]


@pytest.mark.parametrize("degrees", ROTATIONS)
def test_unrotate_points_inverts_the_pixel_rotation(degrees):
    h, w = 7, 12
    frame = np.zeros((h, w, 3), np.uint8)
    pts = np.array([[0, 0], [11, 0], [3, 5], [11, 6]], np.float64)
    for i, (x, y) in enumerate(pts.astype(int)):
        frame[y, x] = i + 1
    rotated = rotate_frame(frame, degrees)
    assert rotated.shape[:2] == ((h, w) if degrees in (0, 180) else (w, h))
    found = np.array([np.argwhere(rotated[..., 0] == i + 1)[0][::-1] for i in range(len(pts))], np.float64)
    np.testing.assert_array_equal(unrotate_points(found, degrees, frame.shape), pts)
    np.testing.assert_array_equal(forward(pts, degrees, h, w), found)
    with pytest.raises(ValueError):
        unrotate_points(pts, 45, frame.shape)


def test_rotated_frames_give_the_upright_face(tmp_path, real_media):
    """The astronaut photo turned 90°/180°/270°: upright HOG finds nothing there, the retries find the face
    with the upright frame's landmarks carried into the stored (turned) frame, and the same aligned crop."""
    upright = cv2.imread(str(real_media / "group_photos" / "astronaut_public_domain.png"))[:300, :510]
    h, w = upright.shape[:2]
    ws = Workspace.at(tmp_path / "ws")
    folder = ws.frames_dir(Side.src)
    folder.mkdir(parents=True)
    for deg in ROTATIONS:
        frame = upright if deg == 0 else cv2.rotate(upright, CV2_ROTATE[deg])
        cv2.imwrite(str(folder / f"r{deg:03d}.png"), frame)
    result = run_detect(ws, Side.src, DetectConfig(backend="dlib", workers=1, identity=False, size=256))
    assert result.faces == 4 and not result.no_face
    aligned = ws.aligned_dir(Side.src)
    ref = dfljpg.read_meta(aligned / "r000_0.jpg")
    ref_img = cv2.imread(str(aligned / "r000_0.jpg")).astype(np.int16)
    for deg in (90, 180, 270):
        meta = dfljpg.read_meta(aligned / f"r{deg:03d}_0.jpg")
        expected = forward(np.asarray(ref.source_landmarks), deg, h, w)
        # (HOG and the predictor see the same pixels, turned: on this photo the points agree exactly)
        assert np.abs(np.asarray(meta.source_landmarks) - expected).mean() < 0.5, deg
        img = cv2.imread(str(aligned / f"r{deg:03d}_0.jpg")).astype(np.int16)
        assert np.abs(img - ref_img).mean() < 2, deg  # an upright face (a turned crop differs by ~87)
        # DFL maps the box's two corners, so a turned frame's source_rect can have l > r or t > b
        corners = np.asarray(ref.source_rect, np.float64).reshape(2, 2)
        np.testing.assert_allclose(np.asarray(meta.source_rect).reshape(2, 2), forward(corners, deg, h, w), atol=1)
