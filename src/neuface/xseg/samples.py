"""XSeg's training samples: which faces carry labels (DFL's choice, §6.3), framed for XSeg, and their batches.

Labels, by priority: imported mask images (`labels_from`, used for training only: the faces' files are not
changed), then XSeg-editor polygons (`seg_ie_polys`); when no face has either, faces with a stored
`xseg_mask` (binarised at 0.5). Pretrain mode needs no labels: every face.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from neuface.console import info
from neuface.errors import UsageError
from neuface.workspace import IMAGE_EXTENSIONS, Side, Workspace
from neuface.xseg.augment import augment as augment_sample
from neuface.xseg.framing import has_poly_points, rasterize_polys, sample_to_xseg


def workspace_facesets(workspace: Workspace) -> list[Path]:
    """The aligned folders XSeg trains on in a workspace: src's and dst's, those that exist."""
    dirs = [d for d in (workspace.aligned_dir(Side.src), workspace.aligned_dir(Side.dst)) if d.is_dir()]
    if not dirs:
        raise UsageError(f"{workspace.aligned_dir(Side.src)}: no faceset to train XSeg on")
    return dirs


@dataclass
class XSegSample:
    """One labelled face in XSeg's framing: uint8 BGR (256,256,3) and uint8 0/1 mask (256,256)."""

    name: str
    image: np.ndarray
    mask: np.ndarray


def _label_file(labels_dir: Path, name: str) -> Path | None:
    rel = Path(name)
    for base in (labels_dir / rel.parent, labels_dir):
        for ext in (".png", *[e for e in IMAGE_EXTENSIONS if e != ".png"]):
            p = base / (rel.stem + ext)
            if p.is_file():
                return p
    return None


def _read_label(path: Path, shape: tuple[int, int]) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UsageError(f"{path}: not a readable mask image")
    if img.ndim == 3:
        img = img[..., 3] if img.shape[2] == 4 and img[..., :3].max() == 0 else img[..., 0]
    m = img.astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
    if m.shape != shape:
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return (m >= 0.5).astype(np.float32)


def load_samples(aligned_dirs: Sequence[Path], xseg_face_type: str,
                 labels_from: Path | None = None, pretrain: bool = False) -> list[XSegSample]:
    """Every labelled face of `aligned_dirs`, framed for XSeg (DFL's choice of samples, §6.3).

    Pretrain mode needs no labels: every face, with an empty mask.
    """
    from neuface.faceset import Faceset

    labelled: list[tuple[object, Path | None]] = []
    masked: list[object] = []
    unlabelled: list[object] = []
    for d in aligned_dirs:
        for rec in Faceset.open(d):
            label = _label_file(labels_from, rec.name) if labels_from is not None else None
            if label is not None or has_poly_points(rec.meta.seg_ie_polys):
                labelled.append((rec, label))
            elif rec.meta.xseg_mask is not None:
                masked.append(rec)
            else:
                unlabelled.append(rec)
    if pretrain:
        labelled += [(rec, None) for rec in masked + unlabelled]
    elif not labelled and masked:
        info(f"no polygon labels found: training on {len(masked)} faces' stored XSeg masks")
        labelled = [(rec, None) for rec in masked]
    samples: list[XSegSample] = []
    for rec, label in labelled:
        img = rec.load_image()
        shape = img.shape[:2]
        if pretrain:  # an empty mask
            mask = np.zeros(shape, np.float32)
        elif isinstance(label, Path):
            mask = _read_label(label, shape)
        elif has_poly_points(rec.meta.seg_ie_polys):
            mask = rasterize_polys(rec.meta.seg_ie_polys, shape)
        else:
            m = rec.meta.get_xseg_mask()[..., 0]
            m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LANCZOS4) if m.shape != shape else m
            mask = (m >= 0.5).astype(np.float32)
        fimg, fmask = sample_to_xseg(img, mask, rec.meta.face_type, rec.meta.landmarks, xseg_face_type)
        samples.append(XSegSample(rec.name, fimg, (fmask >= 0.5).astype(np.uint8)))
    return samples


class Batcher:
    """Shuffled epochs of augmented samples; backgrounds drawn from the other samples, as DFL does.

    `state()`/`restore()` carry the generator and the rest of the epoch across a resume.
    """

    def __init__(self, samples: list[XSegSample], batch_size: int, rng: np.random.Generator, augment: bool,
                 pretrain: bool = False):
        self.samples, self.batch_size, self.rng, self.augment = samples, batch_size, rng, augment
        self.pretrain = pretrain
        self.order: list[int] = []

    def state(self) -> dict:
        return {"numpy": self.rng.bit_generator.state, "order": [int(i) for i in self.order],
                "samples": len(self.samples)}

    def restore(self, state: dict) -> bool:
        """False (nothing changed) when the stored state is for another set of samples."""
        if int(state.get("samples", -1)) != len(self.samples):
            return False
        try:
            self.rng.bit_generator.state = state["numpy"]
        except (KeyError, TypeError, ValueError):
            return False
        self.order = [int(i) for i in state.get("order", []) if 0 <= int(i) < len(self.samples)]
        return True

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        def other() -> np.ndarray:
            return self.samples[int(self.rng.integers(len(self.samples)))].image

        swap = other if len(self.samples) > 1 and not self.pretrain else None  # no labels: no background to swap
        imgs, masks = [], []
        for _ in range(self.batch_size):
            if not self.order:
                self.order = list(self.rng.permutation(len(self.samples)))
            s = self.samples[self.order.pop()]
            if self.augment:
                img, mask = augment_sample(s.image, s.mask.astype(np.float32), self.rng, swap)
            else:
                img, mask = s.image.astype(np.float32) / 255.0, s.mask.astype(np.float32)
            imgs.append(img)
            masks.append(mask)
        return np.stack(imgs), np.stack(masks)[..., None]
