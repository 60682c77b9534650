"""dlib backend quality on real photos and video (no mocks): recall, false faces, video coverage, identity."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import av
import cv2
import numpy as np
import pytest

from neuface.detect.backends import DetectOptions, create_backend
from neuface.detect.backends.dlib_backend import detection_scale
from neuface.detect.frames import load_frame
from neuface.detect.identity import compute_identity_embedding
from neuface.detect.recall import human_boxes, recall_on


@pytest.fixture(scope="module")
def dlib_plain():
    return create_backend("dlib", DetectOptions(with_embeddings=False))


@pytest.fixture(scope="module")
def dlib_full():
    return create_backend("dlib", DetectOptions(with_embeddings=True))


def test_group_photo_recall(real_media, dlib_plain):
    folder = real_media / "group_photos"
    truth = human_boxes(folder)
    assert len(truth) >= 9 and sum(map(len, truth.values())) >= 40

    def detect(name: str) -> list:
        faces = dlib_plain.detect(load_frame(folder / name))
        assert all(f.landmarks.shape == (68, 2) for f in faces)
        return [f.rect for f in faces]

    r = recall_on(truth, detect)
    assert r.rate >= 0.85, f"recall {r.found}/{r.total}"
    assert r.false <= 0.15 * r.total


def test_no_faces_at_most_one_false_face(real_media, dlib_plain):
    images = sorted((real_media / "no_faces").glob("*.png"))
    assert len(images) == 14
    assert sum(len(dlib_plain.detect(load_frame(p))) for p in images) <= 1


def test_dogs_photo_has_no_human_face(real_media, dlib_plain):
    assert len(dlib_plain.detect(load_frame(real_media / "group_photos" / "dogs.jpg"))) <= 1


def test_talking_head_face_in_95_percent_of_frames(real_media, dlib_plain):
    hits = total = 0
    with av.open(str(real_media / "talking_head_d3.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 6:
                continue  # every 6th frame keeps the test short; the clip is 354 frames
            total += 1
            hits += bool(dlib_plain.detect(frame.to_ndarray(format="bgr24")))
    assert total >= 50
    assert hits / total >= 0.95, f"{hits}/{total}"


def test_landmarks_agree_with_annotated_landmarks(real_media, dlib_plain):
    """The group photos' XML carries dlib-predictor landmarks: ours are the same model, so close."""
    root = ET.parse(real_media / "group_photos" / "testing_with_face_landmarks.xml").getroot()
    image = next(iter(root.iter("image")))
    faces = dlib_plain.detect(load_frame(real_media / "group_photos" / image.get("file")))
    errors = []
    for box in image.iter("box"):
        pts = {int(p.get("name")): (float(p.get("x")), float(p.get("y"))) for p in box.iter("part")}
        if len(pts) != 68:
            continue
        ref = np.array([pts[i] for i in range(68)])
        best = min(faces, key=lambda f: np.abs(f.landmarks - ref).mean())
        errors.append(np.abs(best.landmarks - ref).mean() / float(box.get("width")))
    assert errors and float(np.median(errors)) < 0.08


def test_identity_embeddings_separate_people(real_media, dlib_full):
    """Same person: cosine similarity high; different people: lower. Frame and aligned inputs agree."""
    johns = real_media / "identities" / "johns"
    people = sorted(p for p in johns.iterdir() if p.is_dir())[:3]
    embs: dict[str, list[np.ndarray]] = {}
    for person in people:
        for path in sorted(person.glob("*.jpg"))[:3]:
            e = compute_identity_embedding(cv2.imread(str(path)))
            if e is not None:
                embs.setdefault(person.name, []).append(e)
    assert len(embs) == 3 and all(len(v) >= 2 for v in embs.values())
    vecs = [(k, v) for k, vs in embs.items() for v in vs]
    same = [float(a @ b) for i, (ka, a) in enumerate(vecs) for kb, b in vecs[i + 1:] if ka == kb]
    diff = [float(a @ b) for i, (ka, a) in enumerate(vecs) for kb, b in vecs[i + 1:] if ka != kb]
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for _, v in vecs)
    assert min(same) > max(diff)


def test_identity_from_aligned_face_matches_frame(dfl_fixtures, dlib_full):
    from neuface.dfl.align import get_transform_mat, transform_points, warp_face

    frame = load_frame(dfl_fixtures / "frames" / "t1.jpg")
    face = max(dlib_full.detect(frame), key=lambda f: f.area)
    mat = get_transform_mat(face.landmarks, 512, "whole_face")
    aligned = warp_face(frame, mat, 512)
    emb = compute_identity_embedding(aligned, transform_points(face.landmarks, mat))
    assert float(emb @ face.embedding) > 0.95
    assert compute_identity_embedding(np.zeros((64, 64, 3), np.uint8)) is None


@pytest.mark.parametrize("h,w,factor,up", [(512, 512, 1.0, 1), (1080, 1920, 1.0, 0), (4320, 7680, 2048 / 7680, 0)])
def test_detection_scale(h, w, factor, up):
    f, u = detection_scale(h, w)
    assert f == pytest.approx(factor) and u == up


def test_cnn_detector_finds_face(dfl_fixtures):
    backend = create_backend("dlib-cnn", DetectOptions(with_embeddings=False))
    img = load_frame(dfl_fixtures / "frames" / "t1.jpg")
    small = cv2.resize(img, (400, 276))  # small keeps the test short: the CNN runs on the 2x upsampled frame
    assert len(backend.detect(small)) >= 3


def test_weights_come_from_the_shared_registry(tmp_path, monkeypatch):
    """detect finds its files through `neuface.weights` (one list of files, licences, places)."""
    from neuface import weights
    from neuface.detect.weights import buffalo_candidates, dlib_model, find_buffalo

    for key in ("dlib.landmarks68", "dlib.recognition", "dlib.cnn_detector"):
        assert dlib_model(key) == weights.locate(key) and dlib_model(key).is_file()
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path / "home"))
    assert buffalo_candidates()[-1] == tmp_path / "home" / "models" / "buffalo_l"
    pack = tmp_path / "unzipped" / "buffalo_l"  # `--models DIR` may name the folder above the pack
    pack.mkdir(parents=True)
    for key in ("buffalo_l.detector", "buffalo_l.landmarks"):
        (pack / weights.get(key).filename).write_bytes(b"")
    assert find_buffalo(tmp_path / "unzipped") == pack and find_buffalo() is None
