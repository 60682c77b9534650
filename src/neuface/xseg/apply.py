"""`neuface mask`: apply XSeg to a faceset and store masks as DFL's `apply_xseg` does, or remove them.

Each face is warped to the XSeg model's face type at 256 px, masked in batches, warped back, binarised at
0.5 and stored as `xseg_mask` (256×256 PNG bytes) so DFL's trainer uses it. Folders are updated one
chunk at a time (each file rewritten atomically, image bytes untouched), so an interrupted run keeps
what it finished; a `faceset.pak` is rewritten once at the end (new pak written, verified, swapped in).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuface.console import info, make_progress, warn
from neuface.dfl.facetype import DEFAULT_FACE_TYPE, FaceType
from neuface.errors import FacesetFormatError, UsageError
from neuface.faceset import FaceMeta, FaceRecord, Faceset
from neuface.sheet import SheetItem, overlay_mask, write_sheet
from neuface.xseg.framing import face_to_xseg, mask_from_xseg, reframe_matrix
from neuface.xseg.infer import XSegMasker
from neuface.xseg.model_files import XSegFiles, find_xseg_files

SAME = "same"
CHUNK = 64  # faces decoded, masked and written per round

NO_MODEL_HELP = ("put DFL's GenericXSeg model there (unzip GenericXSeg.zip from DeepFaceLab's "
                 "_internal/model_generic_xseg into workspace/model/, or pass --model-dir FOLDER|GenericXSeg.zip), "
                 "or train one with `neuface train --kind xseg`; without XSeg masks, training falls back to the "
                 "landmark hull mask")


@dataclass
class MaskReport:
    faces: int = 0
    masked: int = 0
    removed: int = 0
    skipped: list[str] = field(default_factory=list)
    face_type: str | None = None
    sheet_files: list[Path] = field(default_factory=list)


def locate_model(model_dir: Path | None, workspace_model_dir: Path) -> XSegFiles:
    """XSeg files from `--model-dir` (folder or zip) or the workspace's model folder, else a helpful error."""
    where = model_dir if model_dir is not None else workspace_model_dir
    if model_dir is not None and not model_dir.exists():
        raise UsageError(f"--model-dir {model_dir}: not found")
    files = find_xseg_files([where])
    if files is None:
        raise UsageError(f"no XSeg model (XSeg_256.npy or GenericXSeg.zip) in {where}: {NO_MODEL_HELP}")
    return files


def resolve_face_type(files: XSegFiles, override: str | None) -> str:
    """The face type XSeg works on: XSeg_data.dat's, else `--xseg-face-type` (default wf); 'same' = each file's."""
    stored = files.face_type()
    if stored is not None:
        code = FaceType.model_code(stored, "XSeg face type")
        if override and override != SAME and FaceType.model_code(override, "--xseg-face-type") != code:
            warn(f"{files.data_name} says face type {stored!r}; ignoring --xseg-face-type {override}")
        return code
    if override == SAME:
        return SAME
    return FaceType.model_code(override or DEFAULT_FACE_TYPE, "--xseg-face-type")


def _prepare(rec: FaceRecord, face_type: str) -> tuple[FaceRecord, FaceMeta, np.ndarray, np.ndarray | None, int]:
    meta = rec.meta
    img = rec.load_image()
    w = img.shape[1]
    mat = None if face_type == SAME else reframe_matrix(meta.face_type, meta.source_landmarks, meta.landmarks,
                                                        w, face_type)
    return rec, meta, face_to_xseg(img, mat), mat, w


def apply_masks(aligned_dir: Path, files: XSegFiles, *, face_type: str | None = None, device: str = "auto",
                precision: str = "auto", batch_size: int = 8, sheet: Path | None = None) -> MaskReport:
    """Compute and store an XSeg mask for every face in `aligned_dir` (folder or faceset.pak)."""
    ft = resolve_face_type(files, face_type)
    masker = XSegMasker.from_files(files, device=device, precision=precision, batch_size=batch_size)
    fs = Faceset.open(aligned_dir)
    report = MaskReport(faces=len(fs), face_type=ft)
    if not len(fs):
        raise UsageError(f"{aligned_dir}: no aligned faces to mask")
    info(f"XSeg ({files.weights_name}, face type {ft}) on {len(fs)} faces, "
         f"{masker.device.type} {masker.precision.name}, batch {batch_size}")
    pending: dict[str, FaceMeta] = {}
    with make_progress("faces") as progress, ThreadPoolExecutor(max_workers=2) as pool:
        task = progress.add_task("masking", total=len(fs), rate="")
        t0 = time.perf_counter()
        records = list(fs)
        for start in range(0, len(records), CHUNK):
            chunk = records[start:start + CHUNK]
            prepared = []
            for rec, fut in [(r, pool.submit(_prepare, r, ft)) for r in chunk]:
                try:
                    prepared.append(fut.result())
                except FacesetFormatError as exc:
                    warn(f"skipped: {exc}")
                    report.skipped.append(rec.name)
            if prepared:
                masks = masker.predict(np.stack([p[2] for p in prepared]))
                updates = {}
                for (rec, meta, _, mat, w), m in zip(prepared, masks, strict=True):
                    new = meta.copy()
                    new.set_xseg_mask(mask_from_xseg(m, mat, w))
                    updates[rec.name] = new
                if fs.is_pak:
                    pending.update(updates)
                else:
                    fs.update_metas(updates)
                report.masked += len(updates)
            done = start + len(chunk)
            progress.update(task, advance=len(chunk), rate=f"{done / (time.perf_counter() - t0):.1f} faces/s")
    if pending:
        info(f"writing {fs.root / 'faceset.pak'} with {len(pending)} masks")
        fs.update_metas(pending)
    fs.close()
    if sheet is not None:
        report.sheet_files = write_mask_sheet(aligned_dir, sheet)
    return report


def remove_masks(aligned_dir: Path, sheet: Path | None = None) -> MaskReport:
    """Delete every stored `xseg_mask` (DFL's `xseg remove`); faces without one are not rewritten."""
    updates: dict[str, FaceMeta] = {}
    with Faceset.open(aligned_dir) as fs:
        report = MaskReport(faces=len(fs))
        for rec in fs:
            try:
                meta = rec.meta
            except FacesetFormatError as exc:
                warn(f"skipped: {exc}")
                report.skipped.append(rec.name)
                continue
            if meta.xseg_mask is not None:
                new = meta.copy()
                new.set_xseg_mask(None)
                updates[rec.name] = new
        if updates:
            fs.update_metas(updates)
    report.removed = len(updates)
    if sheet is not None:
        report.sheet_files = write_mask_sheet(aligned_dir, sheet)
    return report


def _sheet_items(aligned_dir: Path) -> Iterator[SheetItem]:
    with Faceset.open(aligned_dir) as fs:
        for rec in fs:
            try:
                meta, img = rec.meta, rec.load_image()
            except FacesetFormatError:
                continue
            mask = meta.get_xseg_mask()
            caption = rec.name if mask is not None else f"{rec.name} (no mask)"
            yield SheetItem(overlay_mask(img, mask), caption)


def write_mask_sheet(aligned_dir: Path, out: Path) -> list[Path]:
    """A contact sheet of every face with its stored mask overlaid (read back from the files)."""
    written = write_sheet(_sheet_items(aligned_dir), out, title=f"XSeg masks: {aligned_dir}")
    if written:
        info(f"mask sheet: {written[0]}" + (f" (+{len(written) - 1} pages)" if len(written) > 1 else ""))
    return written
