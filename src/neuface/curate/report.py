"""curate.json and the review sheet: the flagged faces grouped by reason, worst first, each captioned.

The sheet is what the user decides from, so every group opens with a title card (reason, count, what to
look for), each thumbnail carries a coloured band for its reason, and misaligned faces show the stored
landmarks, so a wrong crop is visible at a glance.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from neuface.atomic import atomic_write_text
from neuface.curate.options import PRIORITY, CurateOptions
from neuface.curate.score import FaceVerdict
from neuface.faceset.faceset import Faceset

SHEET_ORDER: tuple[str, ...] = tuple(r for group in PRIORITY for r in group)
COLOURS: dict[str, tuple[int, int, int]] = {  # BGR
    "other_person": (60, 60, 230), "cut_off": (0, 160, 255), "exposure": (0, 230, 230),
    "occluded": (230, 120, 0), "misaligned": (220, 0, 220), "blurry": (160, 160, 160),
}
LOOK_FOR: dict[str, str] = {
    "other_person": "not the same person?", "cut_off": "part of the face outside the frame?",
    "exposure": "too dark / too bright / flat?", "occluded": "hand, object or hair over the face?",
    "misaligned": "green dots off the real features?", "blurry": "soft or smeared?",
}
THUMB = 128


def write_json(path: Path, root: Path, verdicts: Sequence[FaceVerdict], opts: CurateOptions) -> None:
    """curate.json: options, counts per reason, and every face's reasons (flagged) and scores (all)."""
    counts: dict[str, int] = {r: 0 for r in SHEET_ORDER}
    for v in verdicts:
        if v.primary:
            counts[v.primary] += 1
    doc: dict[str, Any] = {
        "faceset": str(root), "faces_scored": len(verdicts), "flagged": sum(counts.values()), "counts": counts,
        "note": "score = measure / threshold: above 1.0 is flagged; 'reason' is the one the face is trashed under",
        "options": opts.scored(),
        "faces": {v.name: {"reason": v.primary, "reasons": v.reasons, "scores": v.scores,
                           **({"kept_rare_angle": True} if v.kept_rare_angle else {})} for v in verdicts},
    }
    atomic_write_text(path, json.dumps(doc, indent=1))


def title_card(reason: str, count: int) -> np.ndarray:
    """A thumbnail-sized tile naming the group that follows."""
    tile = np.full((THUMB, THUMB, 3), 24, np.uint8)
    cv2.rectangle(tile, (0, 0), (THUMB - 1, THUMB - 1), COLOURS[reason], 3)
    lines = [reason.replace("_", " "), f"{count} faces", *_wrap(LOOK_FOR[reason], 18), "worst first"]
    for k, text in enumerate(lines):
        scale = 0.5 if k == 0 else 0.36
        cv2.putText(tile, text, (8, 24 + k * 18 + (4 if k else 0)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    COLOURS[reason] if k == 0 else (220, 220, 220), 1, cv2.LINE_AA)
    return tile


def _wrap(text: str, width: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    return lines + ([cur] if cur else [])


def face_tile(image: np.ndarray, landmarks: np.ndarray, reason: str, also: Sequence[str] = ()) -> np.ndarray:
    """The face at thumbnail size with its reason's band on top (and landmarks when misaligned).

    Other reasons the face was also flagged for show as small squares in their colours at the band's
    right end, so the caption stays short enough to keep the score readable.
    """
    from neuface.sheet import thumbnail

    tile = thumbnail(image, THUMB)
    if reason == "misaligned":
        s = THUMB / image.shape[1]
        for x, y in np.asarray(landmarks) * s:
            cv2.circle(tile, (int(x), int(y)), 1, (0, 255, 0), -1, cv2.LINE_AA)
    cv2.rectangle(tile, (0, 0), (THUMB - 1, 5), COLOURS[reason], -1)
    for k, other in enumerate(also):
        x = THUMB - 12 - 12 * k
        cv2.rectangle(tile, (x, 0), (x + 10, 10), COLOURS[other], -1)
        cv2.rectangle(tile, (x, 0), (x + 10, 10), (0, 0, 0), 1)
    return tile


def sheet_items(fs: Faceset, verdicts: Sequence[FaceVerdict]) -> Iterator[Any]:
    """Title card, then the group's faces worst first, for each reason in SHEET_ORDER."""
    from neuface.sheet import SheetItem

    for reason in SHEET_ORDER:
        group = sorted((v for v in verdicts if v.primary == reason), key=lambda v: -v.reasons[reason])
        if not group:
            continue
        yield SheetItem(title_card(reason, len(group)), "")
        for v in group:
            rec = fs[v.name]
            also = [r for r in v.reasons if r != reason]
            caption = f"{v.reasons[reason]:.1f}  {Path(v.name).stem}"
            yield SheetItem(face_tile(rec.load_image(), rec.meta.landmarks, reason, also), caption)


def write_review_sheet(fs: Faceset, verdicts: Sequence[FaceVerdict], path: Path) -> list[Path]:
    """The review sheet (PNG pages of 100 or HTML); nothing is written when no face is flagged."""
    from neuface.sheet import write_sheet

    return write_sheet(sheet_items(fs, verdicts), path, thumb=THUMB, title=f"curate: {fs.root}")
