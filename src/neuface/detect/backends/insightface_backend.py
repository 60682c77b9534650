"""insightface backend: SCRFD boxes (det_10g), 68-point 3D landmarks (1k3d68), ArcFace identity (w600k_r50).

Runs the `buffalo_l` pack's ONNX files directly with onnxruntime through `neuface.runtime.ort_session`
(CUDA provider when present), so neither the `insightface` package nor its CPU onnxruntime is needed.
The numeric pre- and post-processing (letterbox, anchor decoding, NMS, crop matrices, mapping landmarks
back to the frame) are plain functions so they can be tested without the weights.

Weights: the buffalo_l models are for non-commercial research use only (insightface licence).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuface.detect.backends import registry
from neuface.detect.backends.base import Backend, DetectedFace, DetectOptions
from neuface.detect.weights import (
    BUFFALO_DETECTOR,
    BUFFALO_LANDMARKS,
    BUFFALO_RECOGNITION,
    buffalo_filename,
    find_buffalo,
    require_buffalo,
)
from neuface.dfl.align import umeyama
from neuface.weights import INSIGHTFACE_LICENCE

DET_SIZE = 640
DET_THRESHOLD = 0.5
NMS_THRESHOLD = 0.4
IDENTITY_MODEL = "arcface_w600k_r50"
# SCRFD probabilities: 0.5 - 0.2 for the redo retry.
REDO_THRESHOLD_OFFSET = -0.2

# ArcFace's 112x112 five-point template (eye centres, nose tip, mouth corners).
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


# ---------------------------------------------------------------- SCRFD pre/post-processing

def letterbox(image: np.ndarray, size: int = DET_SIZE) -> tuple[np.ndarray, float]:
    """Resize keeping aspect so the long side is `size`, pad bottom/right with black; returns (img, scale)."""
    import cv2

    h, w = image.shape[:2]
    if h > w:
        new_h, new_w = size, int(size * w / h)
    else:
        new_w, new_h = size, int(size * h / w)
    new_w, new_h = max(new_w, 1), max(new_h, 1)
    scale = new_h / h
    out = np.zeros((size, size, 3), dtype=np.uint8)
    out[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))
    return out, scale


def to_blob(images: list[np.ndarray], mean: float, std: float) -> np.ndarray:
    """BGR uint8 HWC images -> RGB float32 NCHW, (x - mean) / std."""
    arr = np.stack([img[..., ::-1] for img in images]).astype(np.float32)
    arr = (arr - mean) / std
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2))


def anchor_centers(height: int, width: int, stride: int, num_anchors: int) -> np.ndarray:
    """(height*width*num_anchors, 2) anchor centres (x, y) in input pixels, row-major, anchors repeated."""
    ys, xs = np.mgrid[:height, :width]
    centers = (np.stack([xs, ys], axis=-1).astype(np.float32) * stride).reshape(-1, 2)
    if num_anchors > 1:
        centers = np.repeat(centers, num_anchors, axis=0)
    return centers


def distance2bbox(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Boxes (x1, y1, x2, y2) from centre points and (left, top, right, bottom) distances."""
    return np.stack([points[:, 0] - distance[:, 0], points[:, 1] - distance[:, 1],
                     points[:, 0] + distance[:, 2], points[:, 1] + distance[:, 3]], axis=-1)


def distance2kps(points: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Keypoints (N, K, 2) from centre points and per-keypoint (dx, dy) offsets."""
    d = distance.reshape(len(points), -1, 2)
    return points[:, None, :] + d


def nms(dets: np.ndarray, threshold: float = NMS_THRESHOLD) -> list[int]:
    """Greedy NMS on (N, 5) [x1, y1, x2, y2, score] with "+1" pixel areas (insightface's convention)."""
    x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][iou <= threshold]
    return keep


def scrfd_layout(num_outputs: int) -> tuple[tuple[int, ...], int, bool]:
    """(strides, anchors per cell, has keypoints) for an SCRFD export with this many outputs."""
    layouts = {6: ((8, 16, 32), 2, False), 9: ((8, 16, 32), 2, True),
               10: ((8, 16, 32, 64, 128), 1, False), 15: ((8, 16, 32, 64, 128), 1, True)}
    if num_outputs not in layouts:
        raise ValueError(f"unexpected SCRFD model with {num_outputs} outputs")
    return layouts[num_outputs]


def decode_scrfd(outputs: list[np.ndarray], input_size: int, threshold: float,
                 det_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
    """SCRFD raw outputs for ONE image -> (N, 5) boxes+scores in frame pixels (after NMS), (N, 5, 2) kps.

    `outputs` are in the model's order: all score maps, then box distances, then keypoint distances,
    one per stride; batch dimension already removed. Distances are in stride units.
    """
    strides, num_anchors, has_kps = scrfd_layout(len(outputs))
    fmc = len(strides)
    all_scores, all_boxes, all_kps = [], [], []
    for idx, stride in enumerate(strides):
        scores = outputs[idx].reshape(-1)
        boxes = outputs[idx + fmc].reshape(-1, 4) * stride
        n = input_size // stride
        centers = anchor_centers(n, n, stride, num_anchors)
        pos = np.where(scores >= threshold)[0]
        all_scores.append(scores[pos])
        all_boxes.append(distance2bbox(centers, boxes)[pos])
        if has_kps:
            kps = outputs[idx + 2 * fmc].reshape(len(centers), -1) * stride
            all_kps.append(distance2kps(centers, kps)[pos])
    scores = np.concatenate(all_scores).astype(np.float32)
    boxes = np.concatenate(all_boxes).astype(np.float32) / det_scale
    kps = np.concatenate(all_kps).astype(np.float32) / det_scale if has_kps else None
    order = scores.argsort()[::-1]
    dets = np.hstack([boxes, scores[:, None]])[order]
    keep = nms(dets) if len(dets) else []
    dets = dets[keep]
    kps = kps[order][keep] if kps is not None else None
    return dets, kps


# ---------------------------------------------------------------- landmark and recognition crops

def landmark_crop_matrix(box: np.ndarray, input_size: int) -> np.ndarray:
    """2x3 matrix frame -> landmark-net input: box centred, its longer side * 1.5 filling the input."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    scale = input_size / (max(x2 - x1, y2 - y1) * 1.5)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return np.array([[scale, 0.0, input_size / 2 - cx * scale], [0.0, scale, input_size / 2 - cy * scale]])


def landmarks_from_prediction(pred: np.ndarray, crop_mat: np.ndarray, input_size: int,
                              num_points: int = 68) -> np.ndarray:
    """1k3d68 output (flat, 3D or 2D, values in [-1, 1] crop units) -> (68, 2) float64 frame pixels."""
    import cv2

    flat = np.asarray(pred, dtype=np.float64).reshape(-1)
    dims = 3 if flat.size >= 3000 else 2
    pts = flat.reshape(-1, dims)[-num_points:, :2].copy()
    pts = (pts + 1) * (input_size // 2)
    inv = cv2.invertAffineTransform(crop_mat)
    return pts @ inv[:, :2].T + inv[:, 2]


def five_points_from_68(lm: np.ndarray) -> np.ndarray:
    """ArcFace's five points from iBUG-68: eye centres, nose tip, mouth corners."""
    lm = np.asarray(lm, dtype=np.float64)
    return np.array([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]], dtype=np.float32)


def arcface_matrix(five_points: np.ndarray, size: int = 112) -> np.ndarray:
    """Similarity mapping five face points onto ArcFace's template (scaled to `size`)."""
    dst = ARCFACE_TEMPLATE * (size / 112.0)
    return umeyama(np.asarray(five_points, dtype=np.float64), dst, True)[0:2]


def _mean_std_from_graph(path: Path) -> tuple[float, float]:
    """insightface's rule: models that normalise inside the graph (Sub+Mul or bn_data first) take 0..255."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    find_sub = find_mul = False
    for nid, node in enumerate(graph.node[:8]):
        if node.name.startswith(("Sub", "_minus")):
            find_sub = True
        if node.name.startswith(("Mul", "_mul")):
            find_mul = True
        if nid < 3 and node.name == "bn_data":
            find_sub = find_mul = True
    return (0.0, 1.0) if find_sub and find_mul else (127.5, 128.0)


class InsightfaceBackend(Backend):
    """SCRFD + 1k3d68 (+ ArcFace) from the buffalo_l pack, via onnxruntime."""

    name = "insightface"
    identity_model = IDENTITY_MODEL

    def __init__(self, options: DetectOptions | None = None, models_dir: Path | None = None,
                 device: str = "auto", threads: int | None = None):
        super().__init__(options)
        from neuface.runtime import ort_session

        pack = require_buffalo(models_dir)
        self.pack = pack
        self._det = ort_session(pack / buffalo_filename(BUFFALO_DETECTOR), device, threads)
        self._lmk = ort_session(pack / buffalo_filename(BUFFALO_LANDMARKS), device, threads)
        self._lmk_size = int(self._lmk.get_inputs()[0].shape[2])
        self._lmk_mean, self._lmk_std = _mean_std_from_graph(pack / buffalo_filename(BUFFALO_LANDMARKS))
        rec_path = pack / buffalo_filename(BUFFALO_RECOGNITION)
        self._rec = ort_session(rec_path, device, threads) if rec_path.is_file() else None
        if self._rec is None:
            self.identity_model = None
        self._on_gpu = "CUDAExecutionProvider" in self._det.get_providers()

    @property
    def prefers_batches(self) -> bool:
        return self._on_gpu

    def _boxes(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        det_img, scale = letterbox(image, DET_SIZE)
        blob = to_blob([det_img], 127.5, 128.0)
        outs = self._det.run(None, {self._det.get_inputs()[0].name: blob})
        outs = [o[0] if o.ndim == 3 else o for o in outs]
        return decode_scrfd(outs, DET_SIZE, DET_THRESHOLD + self.options.threshold_offset, scale)

    def _landmarks(self, crops: list[np.ndarray]) -> np.ndarray:
        blob = to_blob(crops, self._lmk_mean, self._lmk_std)
        return self._lmk.run(None, {self._lmk.get_inputs()[0].name: blob})[0]

    def _embeddings(self, chips: list[np.ndarray]) -> np.ndarray:
        blob = to_blob(chips, 127.5, 127.5)
        out = self._rec.run(None, {self._rec.get_inputs()[0].name: blob})[0]
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    def detect_batch(self, images: list[np.ndarray]) -> list[list[DetectedFace]]:
        import cv2

        per_image = [self._boxes(img) for img in images]
        jobs: list[tuple[int, np.ndarray, np.ndarray]] = []  # (image index, box+score, crop matrix)
        crops: list[np.ndarray] = []
        for i, (dets, _) in enumerate(per_image):
            for det in dets:
                mat = landmark_crop_matrix(det, self._lmk_size)
                crops.append(cv2.warpAffine(images[i], mat, (self._lmk_size, self._lmk_size), borderValue=0.0))
                jobs.append((i, det, mat))
        results: list[list[DetectedFace]] = [[] for _ in images]
        if not jobs:
            return results
        preds = self._landmarks(crops)
        faces = []
        for (i, det, mat), pred in zip(jobs, preds, strict=True):
            lm = landmarks_from_prediction(pred, mat, self._lmk_size)
            face = DetectedFace(rect=det[:4].astype(np.float64), score=float(det[4]), landmarks=lm)
            results[i].append(face)
            faces.append((i, face))
        if self.options.with_embeddings and self._rec is not None:
            chips = [cv2.warpAffine(images[i], arcface_matrix(five_points_from_68(f.landmarks)), (112, 112))
                     for i, f in faces]
            for (_, face), emb in zip(faces, self._embeddings(chips), strict=True):
                face.embedding = emb
        return results

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        return self.detect_batch([image])[0]

    def embed(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """ArcFace vector of the face with these 68 landmarks (pixel space of `image`, BGR)."""
        import cv2

        if self._rec is None:
            raise RuntimeError("w600k_r50.onnx missing from the buffalo_l pack")
        chip = cv2.warpAffine(image, arcface_matrix(five_points_from_68(landmarks)), (112, 112))
        return self._embeddings([chip])[0]


registry.register(registry.BackendSpec(
    name="insightface", summary="buffalo_l pack, non-commercial",
    factory=lambda a: InsightfaceBackend(a.options, models_dir=a.models_dir, device=a.device, threads=a.threads),
    available=lambda models_dir: find_buffalo(models_dir) is not None,
    unavailable_hint="put the buffalo_l pack in ~/.insightface/models/buffalo_l or pass --models DIR",
    runs_on_gpu=registry.ort_runs_on_cuda, licence=INSIGHTFACE_LICENCE, identity_model=IDENTITY_MODEL,
    redo_threshold_offset=REDO_THRESHOLD_OFFSET, redo_fallbacks=("retinaface", "dlib"), auto_rank=0))
