"""Shared helpers for the training tests: workspaces of real DFL faces (no tests here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from neuface.dfl.landmarks import mirror_landmarks
from neuface.faceset import dfljpg

TINY = ["--resolution", "64", "--ae-dims", "32", "--e-dims", "16", "--d-dims", "16", "--d-mask-dims", "16"]
T1_FACES = ("t1_0.jpg", "t1_1.jpg", "t1_2.jpg", "t1_3.jpg")


def copy_faces(dfl_fixtures: Path, dst: Path, names=T1_FACES) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copyfile(dfl_fixtures / "aligned" / n, dst / n)
        (dst / n).chmod(0o644)
    return dst


def write_mirrored_faces(dfl_fixtures: Path, dst: Path, names=T1_FACES) -> Path:
    """Different faces for the dst side: the fixture faces mirrored (landmarks and XSeg masks too), warmer."""
    dst.mkdir(parents=True, exist_ok=True)
    for n in names:
        src = dfl_fixtures / "aligned" / n
        meta = dfljpg.read_meta(src)
        img = cv2.imread(str(src))
        img = np.clip(img[:, ::-1].astype(np.float32) * np.float32([0.9, 1.0, 1.1]), 0, 255).astype(np.uint8)
        meta.landmarks = mirror_landmarks(meta.landmarks, img.shape[1]).astype(np.float32)
        mask = meta.get_xseg_mask()
        if mask is not None:
            meta.set_xseg_mask(np.ascontiguousarray(mask[:, ::-1]))
        meta.seg_ie_polys = None
        dfljpg.write_aligned_jpeg(dst / f"m_{n}", np.ascontiguousarray(img), meta)
    return dst


def make_workspace(dfl_fixtures: Path, root: Path) -> Path:
    """workspace/data_src/aligned = 4 real faces, data_dst/aligned = 4 mirrored ones."""
    copy_faces(dfl_fixtures, root / "data_src" / "aligned")
    write_mirrored_faces(dfl_fixtures, root / "data_dst" / "aligned")
    return root
