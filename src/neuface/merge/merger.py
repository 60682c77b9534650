"""Merge batches of frames: crop every face of the batch, one batched model call (and XSeg call), then the
per-face masks and paste-back on a thread pool (OpenCV releases the GIL), so pasting batch k overlaps the
model call of batch k+1 (see `neuface.merge.pipeline`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from neuface.console import warn
from neuface.dfl.align import get_transform_mat
from neuface.merge import masks as M
from neuface.merge.faces import FrameFace
from neuface.merge.label import draw_label
from neuface.merge.models import ModelOutputs, ModelRunner
from neuface.merge.options import MergeOptions
from neuface.merge.paste import FaceResult, merge_face, raw_predict_frame


@dataclass
class _Face:
    frame: int  # position in the batch
    face: FrameFace
    crop: np.ndarray  # (R,R,3) float32 0..1


class FrameMerger:
    """Turns (frames, faces per frame) into merged frames with one model; `workers` paste threads (0 = inline)."""

    def __init__(self, runner: ModelRunner, opts: MergeOptions, xseg: object | None = None, workers: int = 0):
        self.runner = runner
        self.opts = opts.validated()
        self.terms = opts.mask_terms
        self.xseg = xseg
        if opts.needs_xseg and xseg is None:
            raise ValueError("mask mode needs an XSeg model")
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="neuface-merge") if workers > 0 else None
        self._warned_stored = False

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FrameMerger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- model side (caller's thread) -----------------------------------------------------------
    def _crops(self, frames: Sequence[np.ndarray], faces: Sequence[Sequence[FrameFace]]) -> list[_Face]:
        res, ft = self.runner.resolution, self.runner.face_type
        out = []
        for i, (frame, frame_faces) in enumerate(zip(frames, faces, strict=True)):
            for f in frame_faces:
                mat = get_transform_mat(f.landmarks, res, ft)
                crop = cv2.warpAffine(frame, mat, (res, res), flags=cv2.INTER_CUBIC)
                out.append(_Face(i, f, crop.astype(np.float32) / 255.0))
        return out

    def _xseg(self, items: list[_Face], frames: Sequence[np.ndarray], outputs: ModelOutputs) -> dict[str, np.ndarray]:
        """XSeg masks (N,R,R) for the xseg terms the mask mode uses, one batched call each."""
        found: dict[str, np.ndarray] = {}
        if not self.opts.needs_xseg or not items:
            return found
        res = self.runner.resolution
        if "xseg-prd" in self.terms:
            found["xseg-prd"] = M.to_res(self.xseg.predict(M.xseg_inputs(outputs.face)), res)  # type: ignore[union-attr]
        if "xseg-dst" in self.terms:
            crops = np.stack([
                cv2.warpAffine(frames[it.frame], get_transform_mat(it.face.landmarks, M.XSEG_RES,
                                                                   self.runner.face_type),
                               (M.XSEG_RES, M.XSEG_RES), flags=cv2.INTER_CUBIC) for it in items])
            found["xseg-dst"] = M.to_res(self.xseg.predict(crops), res)  # type: ignore[union-attr]
        return found

    # ---- paste side (worker threads) ------------------------------------------------------------
    def _mask(self, it: _Face, k: int, outputs: ModelOutputs, xseg: dict[str, np.ndarray]) -> np.ndarray:
        res, ft = self.runner.resolution, self.runner.face_type

        def term(name: str) -> np.ndarray:
            if name == "full":
                return np.ones((res, res), np.float32)
            if name == "learned-prd":
                return outputs.face_mask[k]
            if name == "learned-dst":
                return outputs.dst_mask[k]
            if name in xseg:
                return xseg[name][k]
            mat = get_transform_mat(it.face.landmarks, res, ft)
            if name == "stored" and it.face.stored_mask is not None and it.face.stored_face_type:
                return M.stored_mask(it.face.stored_mask, it.face.stored_face_type, it.face.landmarks, mat, res)
            if name == "stored" and not self._warned_stored:
                self._warned_stored = True
                warn("--mask-mode stored: some faces have no stored XSeg mask (run `neuface mask dst`, or faces "
                     "were detected on the fly); using the landmark hull for them")
            return M.hull_mask(it.face.landmarks, mat, res)

        return M.combine(self.terms, term)

    def _finish(self, frame: np.ndarray, jobs: list[FaceResult], seed: int) -> np.ndarray:
        if self.opts.mode == "raw-predict":
            frame = raw_predict_frame(jobs, self.runner.resolution)
        elif self.opts.mode != "original":
            rng = np.random.default_rng(seed)
            for job in jobs:
                merge_face(frame, job, self.opts, rng)
        if self.opts.label:
            draw_label(frame)
        return frame

    # ---- public ---------------------------------------------------------------------------------
    def submit(self, indices: Sequence[int], frames: Sequence[np.ndarray],
               faces: Sequence[Sequence[FrameFace]]) -> list[Future[np.ndarray]]:
        """Run the model for every face of the batch now; return futures of the merged frames, in order.

        `frames` (BGR uint8) are merged in place.
        """
        items = self._crops(frames, faces) if self.opts.mode != "original" else []
        outputs = self.runner.run(np.stack([it.crop for it in items]) if items else
                                  np.zeros((0, self.runner.resolution, self.runner.resolution, 3), np.float32))
        xseg = self._xseg(items, frames, outputs)
        per_frame: list[list[tuple[int, _Face]]] = [[] for _ in frames]
        for k, it in enumerate(items):
            per_frame[it.frame].append((k, it))

        def work(i: int) -> np.ndarray:
            jobs = [FaceResult(it.face.landmarks, self.runner.face_type, it.crop, outputs.face[k],
                               self._mask(it, k, outputs, xseg), it.face.motion) for k, it in per_frame[i]]
            return self._finish(frames[i], jobs, indices[i])

        futures: list[Future[np.ndarray]] = []
        for i in range(len(frames)):
            if self.pool is not None:
                futures.append(self.pool.submit(work, i))
            else:
                fut: Future[np.ndarray] = Future()
                fut.set_result(work(i))
                futures.append(fut)
        return futures
