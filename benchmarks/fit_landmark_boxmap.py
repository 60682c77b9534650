"""Refit the five-point -> dlib HOG box model of `neuface.detect.landmarks.boxmap`.

On every fixture photo and every 10th frame of the fixture videos, dlib HOG and RetinaFace are run; faces
both find (IoU >= 0.3) give (RetinaFace five points, HOG box) pairs, and dlib's 68 points predicted on the
HOG box give (five_from_68, HOG box) pairs. HOG fires on frontal to moderately turned faces, so these are
the faces where the predictor's training convention is known. Prints the two BoxMap constants and the
fit's residuals (as a fraction of the box side).

    python benchmarks/fit_landmark_boxmap.py [--cache /tmp/lmstudy/pairs.npz]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from landmark_media import iter_frames, matched_faces  # noqa: E402
from neuface.detect.landmarks.boxmap import box_targets, fit_boxmap, five_from_68, hog_box  # noqa: E402


def collect(cache: Path | None) -> dict[str, np.ndarray]:
    if cache is not None and cache.is_file():
        return dict(np.load(cache))
    import dlib

    from neuface.detect.weights import dlib_model

    pred = dlib.shape_predictor(str(dlib_model("dlib.landmarks68")))
    hogs, kps, lms, srcs = [], [], [], []
    for rel, frame, bgr in iter_frames():
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        for m in matched_faces(bgr):
            shape = pred(rgb, dlib.rectangle(*(int(round(v)) for v in m["hog"])))
            hogs.append(m["hog"])
            kps.append(m["kps5"])
            lms.append([(p.x, p.y) for p in shape.parts()])
            srcs.append(f"{rel}#{-1 if frame is None else frame}")
    data = {"hog": np.array(hogs), "kps5": np.array(kps), "lm68": np.array(lms, np.float64), "src": np.array(srcs)}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **data)
    return data


def residuals(kps5s: np.ndarray, rects: np.ndarray, coef) -> np.ndarray:
    """|predicted - measured| (side, centre) over the measured side, per face."""
    out = []
    for k, r in zip(kps5s, rects, strict=True):
        c, side, _ = hog_box(k, coef)
        t = box_targets(k, r)
        centre = np.array([(r[0] + r[2]) / 2, (r[1] + r[3]) / 2])
        out.append([abs(side - t[0]) / t[0], np.hypot(*(c - centre)) / t[0]])
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, help="npz of collected pairs (read if present)")
    args = ap.parse_args()
    data = collect(args.cache)
    n = len(data["hog"])
    videos = len({s.split("#")[0] for s in data["src"]})
    print(f"{n} faces found by both detectors, from {videos} files")
    for label, five in (("RETINAFACE_MAP", data["kps5"]), ("LANDMARKS68_MAP", [five_from_68(m) for m in data["lm68"]])):
        five = np.asarray(five)
        coef = fit_boxmap(five, data["hog"])
        res = residuals(five, data["hog"], coef)
        print(f"{label} = BoxMap(size=({coef.size[0]:.4f}, {coef.size[1]:.4f}), "
              f"along=({coef.along[0]:.4f}, {coef.along[1]:.4f}, {coef.along[2]:.4f}), "
              f"down=({coef.down[0]:.4f}, {coef.down[1]:.4f}))")
        print(f"  residual / side: size median {np.median(res[:, 0]):.3f} p90 {np.percentile(res[:, 0], 90):.3f}; "
              f"centre median {np.median(res[:, 1]):.3f} p90 {np.percentile(res[:, 1], 90):.3f}")


if __name__ == "__main__":
    main()
