"""Hand annotation of 68 iBUG points: render a zoomed crop with a fine grid and numbered points as a PNG.

Workflow used for tests/data/landmarks_annotated.json: start from candidate points (a landmarker's
output), render them, look at the PNG, move the points that are off in the JSON by hand, render again,
repeat until every point sits where the iBUG convention puts it. Grid lines are labelled in frame pixels,
so a point's corrected position is read straight off the grid.

    python benchmarks/annotate_landmarks.py render FILE [--frame N] --points JSON_OR_ID [--range 36:48]
        [--zoom 6] [--out crop.png]
    python benchmarks/annotate_landmarks.py candidates FILE [--frame N] --face K   # print starting points

FILE is relative to ../shared/fixtures/real (or an absolute path); the media is only read, never copied.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from landmark_media import REAL, read_frame, retina_faces  # noqa: E402

ANNOTATIONS = Path(__file__).resolve().parents[1] / "tests" / "data" / "landmarks_annotated.json"


def load_image(file: str, frame: int | None) -> np.ndarray:
    path = Path(file)
    if path.is_absolute():
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(path)
        return img
    return read_frame(file, frame)


def render(img: np.ndarray, points: np.ndarray, idx: list[int], zoom: int, margin: int, grid: int,
           extra: np.ndarray | None = None) -> np.ndarray:
    """Crop around points[idx] (+ margin px), enlarged `zoom` times, grid every `grid` frame px (labelled),
    each point a dot and its iBUG index; `extra` points (other candidates) drawn as small crosses."""
    sel = points[idx]
    x0, y0 = np.floor(sel.min(0) - margin).astype(int)
    x1, y1 = np.ceil(sel.max(0) + margin).astype(int)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, img.shape[1]), min(y1, img.shape[0])
    crop = cv2.resize(img[y0:y1, x0:x1], None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    # Local contrast (CLAHE on lightness) so eye corners and lip lines show in dark or flat frames.
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB)
    lab[..., 0] = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4)).apply(lab[..., 0])
    crop = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    plain = crop.copy()

    def to_px(x: float, y: float) -> tuple[int, int]:  # pixel centres: frame x -> (x - x0 + 0.5) * zoom
        return int(round((x - x0 + 0.5) * zoom)), int(round((y - y0 + 0.5) * zoom))

    for gx in range((x0 // grid + 1) * grid, x1, grid):
        px = to_px(gx, y0)[0]
        cv2.line(crop, (px, 0), (px, crop.shape[0]), (255, 255, 0) if gx % (grid * 5) else (0, 255, 255), 1)
        if gx % (grid * 5) == 0:  # label every fifth (yellow) line
            cv2.putText(crop, str(gx), (px + 2, 12), cv2.FONT_HERSHEY_PLAIN, 1.0, (0, 255, 255), 1)
    for gy in range((y0 // grid + 1) * grid, y1, grid):
        py = to_px(x0, gy)[1]
        cv2.line(crop, (0, py), (crop.shape[1], py), (255, 255, 0) if gy % (grid * 5) else (0, 255, 255), 1)
        if gy % (grid * 5) == 0:
            cv2.putText(crop, str(gy), (2, py - 2), cv2.FONT_HERSHEY_PLAIN, 1.0, (0, 255, 255), 1)
    crop = cv2.addWeighted(crop, 0.45, plain, 0.55, 0)  # faint grid: the face stays visible under it
    if extra is not None:
        for i in idx:
            cv2.drawMarker(crop, to_px(*extra[i]), (255, 0, 255), cv2.MARKER_CROSS, 7, 1)
    for i in idx:
        p = to_px(*points[i])
        cv2.circle(crop, p, 2, (0, 0, 255), -1)
        cv2.putText(crop, str(i), (p[0] + 4, p[1] - 4), cv2.FONT_HERSHEY_PLAIN, 1.0, (0, 255, 0), 1)
    return crop


def load_points(spec: str) -> np.ndarray:
    """(68,2) points from a JSON file of 68 pairs, or the entry with this `id` in the annotations."""
    path = Path(spec)
    if path.is_file():
        return np.array(json.loads(path.read_text()), np.float64)
    faces = json.loads(ANNOTATIONS.read_text())["faces"]
    return np.array(next(f["points"] for f in faces if f["id"] == spec), np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("render", "candidates"))
    ap.add_argument("file")
    ap.add_argument("--frame", type=int, default=None)
    ap.add_argument("--points", default=None)
    ap.add_argument("--extra", default=None, help="second set of points drawn as crosses")
    ap.add_argument("--face", type=int, default=0, help="RetinaFace face index for candidates")
    ap.add_argument("--range", default="0:68")
    ap.add_argument("--zoom", type=int, default=6)
    ap.add_argument("--margin", type=int, default=8)
    ap.add_argument("--grid", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/annotate.png"))
    args = ap.parse_args()
    img = load_image(args.file, args.frame)
    if args.mode == "candidates":
        from neuface.detect.landmarks import create_landmarker

        box, score, kps = retina_faces(img)[args.face]
        lm = create_landmarker("auto").landmarks(np.ascontiguousarray(img[..., ::-1]), box, kps)
        print(json.dumps([[round(float(x), 1), round(float(y), 1)] for x, y in lm]))
        return
    a, b = (int(v) for v in args.range.split(":"))
    extra = load_points(args.extra) if args.extra else None
    out = render(img, load_points(args.points), list(range(a, b)), args.zoom, args.margin, args.grid, extra)
    cv2.imwrite(str(args.out), out)
    print(args.out, out.shape, REAL)


if __name__ == "__main__":
    main()
