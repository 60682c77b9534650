"""Faces for the landmark study: frames from ../shared/fixtures/real and both detectors run on them.

Internal-use media: read in place, never copied. Used by fit_landmark_boxmap.py, landmark_bench.py and
annotate_landmarks.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

import cv2
import numpy as np

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"
VIDEOS = ("talking_head_tpsmm.mp4", "talking_head_d0.mp4", "talking_head_d3.mp4", "multi_face_hamilton.mp4")


def read_frame(rel: str, frame: int | None = None) -> np.ndarray:
    """BGR frame `frame` of a video, or the image, at `rel` under fixtures/real."""
    path = REAL / rel
    if frame is None:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(path)
        return img
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
    ok, img = cap.read()
    cap.release()
    if not ok:
        raise FileNotFoundError(f"{path} frame {frame}")
    return img


def photos() -> list[str]:
    """Still images with human faces (dogs.jpg and no_faces/ left out), relative to fixtures/real."""
    out = [p for p in sorted((REAL / "group_photos").glob("*")) if p.suffix in (".jpg", ".png")
           and p.name != "dogs.jpg"]
    out += sorted(p for p in (REAL / "identities").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [str(p.relative_to(REAL)) for p in out]


def video_frames(step: int = 10) -> list[tuple[str, int]]:
    """Every `step`-th frame of the fixture videos."""
    out = []
    for name in VIDEOS:
        cap = cv2.VideoCapture(str(REAL / name))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        out += [(name, i) for i in range(0, n, step)]
    return out


def iter_frames(step: int = 10) -> Iterator[tuple[str, int | None, np.ndarray]]:
    """(path, frame index or None, BGR image) over photos and sampled video frames; videos read in order."""
    for rel in photos():
        yield rel, None, read_frame(rel)
    for name in VIDEOS:
        cap = cv2.VideoCapture(str(REAL / name))
        i = 0
        while True:
            ok, img = cap.read()
            if not ok:
                break
            if i % step == 0:
                yield name, i, img
            i += 1
        cap.release()


@cache
def retinaface(threshold_offset: float = 0.0):
    """The product RetinaFace backend (CPU, one thread, no identity vectors)."""
    from neuface.detect.backends.base import DetectOptions
    from neuface.detect.backends.retinaface_backend import RetinafaceBackend

    return RetinafaceBackend(DetectOptions(threshold_offset=threshold_offset, with_embeddings=False),
                             device="cpu", threads=1)


def retina_faces(bgr: np.ndarray, threshold_offset: float = 0.0) -> list[tuple[np.ndarray, float, np.ndarray]]:
    """RetinaFace (box l,t,r,b float64, score, (5,2) points) in frame pixels."""
    dets, kps = retinaface(threshold_offset).detect_boxes([bgr])[0]
    return [(d[:4].astype(np.float64), float(d[4]), k.astype(np.float64)) for d, k in zip(dets, kps, strict=True)]


@cache
def hog():
    import dlib

    return dlib.get_frontal_face_detector()


def hog_boxes(bgr: np.ndarray) -> list[np.ndarray]:
    """dlib HOG boxes as the dlib backend finds them (same upsampling rule)."""
    from neuface.detect.backends.dlib_backend import detection_scale

    rgb = np.ascontiguousarray(bgr[..., ::-1])
    h, w = rgb.shape[:2]
    factor, up = detection_scale(h, w)
    small = rgb if factor == 1.0 else cv2.resize(rgb, (round(w * factor), round(h * factor)),
                                                 interpolation=cv2.INTER_AREA)
    rects, _, _ = hog().run(small, up, 0.0)
    return [np.array([r.left(), r.top(), r.right(), r.bottom()], np.float64) / factor for r in rects]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    l, t = max(a[0], b[0]), max(a[1], b[1])
    r, bt = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, r - l) * max(0.0, bt - t)
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def matched_faces(bgr: np.ndarray, min_iou: float = 0.3) -> list[dict]:
    """Faces both detectors found: {'hog': box, 'retina': box, 'kps5': points}, one HOG box per face."""
    out = []
    retina = retina_faces(bgr)
    for hb in hog_boxes(bgr):
        best = max(retina, key=lambda f: iou(hb, f[0]), default=None)
        if best is not None and iou(hb, best[0]) >= min_iou:
            out.append({"hog": hb, "retina": best[0], "kps5": best[2]})
    return out
