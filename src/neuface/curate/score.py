"""Measure every face of a faceset (on all cores) and judge each against the faceset's own distribution.

Workers open the faceset themselves and read faces by index, so the same code serves a folder and a
faceset.pak (a memory map: no face is copied between processes, only the small measures come back).
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuface.curate.options import PRIORITY, REASONS, CurateOptions
from neuface.curate.signals import measure_face
from neuface.faceset.faceset import Faceset

CHUNK = 64  # faces per task: large enough that task overhead is noise, small enough to balance two cores
MAD_SCALE = 1.4826  # MAD of a normal distribution → its standard deviation


@dataclass
class FaceVerdict:
    """One face: its name, each flagged reason with its score (higher = worse), and its raw measures."""

    name: str
    reasons: dict[str, float] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    kept_rare_angle: bool = False
    yields: set[str] = field(default_factory=set)  # flagged, but the face is shown under any other reason

    @property
    def primary(self) -> str | None:
        """The reason the face is trashed and shown under (options.PRIORITY), None when not flagged."""
        for candidates in ({r for r in self.reasons if r not in self.yields}, set(self.reasons)):
            for group in PRIORITY:
                hits = [r for r in group if r in candidates]
                if hits:
                    return max(hits, key=lambda r: self.reasons[r])
        return None


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def measure_chunk(root: str, indices: Sequence[int], compute_identity: bool = True) -> list[dict[str, Any]]:
    """Worker entry point: the raw measures of faces `indices` of the faceset at `root`."""
    with Faceset.open(root) as fs:
        recs = [fs[i] for i in indices]
        return [measure_face(r.load_bytes(), r._source, compute_identity) for r in recs]


def measure_all(root: Path, n: int, jobs: int, progress: Any = None) -> list[dict[str, Any]]:
    """Raw measures of all `n` faces, in order; in this process when `jobs` is 1 or the set is small."""
    chunks = [list(range(i, min(n, i + CHUNK))) for i in range(0, n, CHUNK)]
    out: list[dict[str, Any]] = []
    if jobs <= 1 or len(chunks) <= 1:
        for c in chunks:
            out += measure_chunk(str(root), c)
            if progress:
                progress(len(c))
        return out
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker) as pool:
        for c, part in zip(chunks, pool.map(measure_chunk, [str(root)] * len(chunks), chunks), strict=True):
            out += part
            if progress:
                progress(len(c))
    return out


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD): a z-score a minority of bad faces cannot drag; NaN stays NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (cells outside every hull)
        med = np.nanmedian(values, axis=0)
        mad = np.nanmedian(np.abs(values - med), axis=0) * MAD_SCALE
        floor = np.nanmedian(mad) * 0.25 if np.ndim(mad) else 0.0
    return (values - med) / np.maximum(mad, max(float(floor) if np.isfinite(floor) else 0.0, 1e-3))


def occlusion_scores(cells: np.ndarray) -> np.ndarray:
    """Per face: its most anomalous region (each cell's colour and texture, relative to the face's own
    mean, robust-z-scored against the same cell across the faceset).

    A hand or a patch makes one or two regions very unlike the same regions of the other faces, while
    lighting or exposure shifts the whole face, which the per-face mean in signals.cell_stats removes.
    """
    z = np.abs(robust_z(cells))  # (faces, cells, 4)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells (outside every hull) are expected
        return np.nan_to_num(np.nanmax(z.reshape(len(z), -1), axis=1), nan=0.0)


def identity_distances(embeds: list[np.ndarray | None]) -> np.ndarray:
    """Distance of each face's identity vector from the faceset's dominant identity (NaN without one)."""
    from neuface.sort import identity_order

    scores = identity_order(embeds).scores
    return np.array([np.nan if s is None else float(s) for s in scores])


def rare_angle(yaw: np.ndarray, pitch: np.ndarray, sharp: np.ndarray, opts: CurateOptions) -> np.ndarray:
    """True where fewer than `rare_angle_min` sharp faces lie within ±angle_bin/2 of the face's yaw and pitch.

    A window around each face rather than fixed bins, so two frontal faces half a degree apart never
    fall into different bins.
    """
    half = opts.angle_bin / 2
    sy, sp = yaw[sharp], pitch[sharp]
    out = np.zeros(len(yaw), bool)
    for i in np.flatnonzero(~sharp):
        near = (np.abs(sy - yaw[i]) <= half) & (np.abs(sp - pitch[i]) <= half)
        out[i] = int(near.sum()) < opts.rare_angle_min
    return out


def judge(names: Sequence[str], measures: Sequence[dict[str, Any]], opts: CurateOptions) -> list[FaceVerdict]:
    """Turn raw measures into verdicts: each reason's score and whether it passes its threshold."""
    n = len(names)
    col = {k: np.array([m[k] for m in measures], dtype=np.float64) for k in
           ("disagreement", "shape", "sharpness", "yaw", "pitch", "cut", "mean_l", "std_l", "clipped")}
    occl = occlusion_scores(np.stack([m["cells"] for m in measures]).astype(np.float64)) if n else np.zeros(0)
    ident = identity_distances([m["embedding"] for m in measures]) if n else np.zeros(0)
    blur_z = -robust_z(col["sharpness"])
    with np.errstate(all="ignore"):
        id_z = np.nan_to_num(robust_z(ident), nan=0.0)
    # The larger of the absolute and the faceset-relative rule, both as ratios to their line.
    id_score = np.maximum(np.nan_to_num(ident, nan=0.0) / opts.identity_max,
                          np.where(np.nan_to_num(ident, nan=0.0) > opts.identity_floor, id_z / opts.identity_z, 0.0))
    # log ratios to the faceset's median: gamma and exposure act multiplicatively on brightness
    with np.errstate(all="ignore"):
        bright = np.abs(np.log((col["mean_l"] + 1) / (np.median(col["mean_l"]) + 1)))
        flat = np.log((np.median(col["std_l"]) + 1) / (col["std_l"] + 1))
    expo = np.maximum.reduce([bright / opts.exposure_max, flat / opts.exposure_max, col["clipped"] / opts.clip_max])
    blurry = blur_z > opts.blur_z
    keep = rare_angle(col["yaw"], col["pitch"], ~blurry, opts) if opts.keep_rare_angles else np.zeros(n, bool)
    out = []
    for i, name in enumerate(names):
        mis = max(col["disagreement"][i] / opts.misalign_max, col["shape"][i] / opts.shape_max)
        mo = measures[i]["mask_occlusion"]
        occ = mo / opts.mask_occlusion_max if mo is not None else occl[i] / opts.occlusion_max
        # Scores are ratios to the threshold: 1.0 is the line, so reasons compare on one scale.
        scores = {"misaligned": mis, "occluded": float(occ), "blurry": blur_z[i] / opts.blur_z,
                  "other_person": float(id_score[i]),
                  "cut_off": col["cut"][i] / opts.cut_max if opts.cut_max > 0 else float(col["cut"][i] > 0),
                  "exposure": float(expo[i])}
        v = FaceVerdict(name, scores={k: round(float(s), 3) for k, s in scores.items()})
        v.reasons = {k: v.scores[k] for k in REASONS if scores[k] > 1.0}
        if "blurry" in v.reasons and keep[i]:
            del v.reasons["blurry"]
            v.kept_rare_angle = True
        if "other_person" in v.reasons and "blurry" in v.reasons and ident[i] <= opts.identity_max:
            # Only the faceset-relative identity rule fired, and blur moves identity vectors that much.
            v.yields.add("other_person")
        out.append(v)
    return out


def score_faceset(fs: Faceset, opts: CurateOptions, progress: Any = None) -> list[FaceVerdict]:
    """Verdicts for every face of `fs`, in faceset order."""
    from neuface.sort import default_jobs

    jobs = opts.jobs or default_jobs()
    measures = measure_all(fs.root, len(fs), jobs, progress)
    return judge(fs.names(), measures, opts)
