"""`curate_aligned`: the one library call behind `neuface curate` and the pipeline's curate step.

Order of work: score every face (read-only), write curate.json and the sheet, and only then, with
`apply`, move the flagged faces; so a failure before the last step changes nothing in the faceset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from neuface.curate.apply import MoveReport, apply_moves, restore_moves
from neuface.curate.options import CurateOptions
from neuface.curate.report import write_json, write_review_sheet
from neuface.curate.score import FaceVerdict, score_faceset
from neuface.errors import UsageError
from neuface.faceset.faceset import Faceset
from neuface.sort import progress_bars


@dataclass
class CurateResult:
    """Verdicts of every face, files written, and what --apply moved (None on a dry run)."""

    verdicts: list[FaceVerdict]
    json_path: Path
    sheet_files: list[Path] = field(default_factory=list)
    moved: MoveReport | None = None

    @property
    def flagged(self) -> dict[str, str]:
        return {v.name: v.primary for v in self.verdicts if v.primary}


def _check_sheet(sheet: Path | None) -> None:
    from neuface.sheet import HTML_SUFFIXES, PNG_SUFFIXES

    if sheet is not None and sheet.suffix.lower() not in PNG_SUFFIXES + HTML_SUFFIXES:
        raise UsageError(f"{sheet}: --sheet must end in .png or .html")


def curate_aligned(aligned: Path, trash_dir: Path, json_path: Path, opts: CurateOptions,
                   sheet: Path | None = None, apply: bool = False) -> CurateResult:
    """Score the faces in `aligned` (folder or faceset.pak); write `json_path` (+ `sheet`); `apply` moves."""
    opts = opts.validated()
    _check_sheet(sheet)
    aligned = Path(aligned)
    if not aligned.is_dir():
        raise UsageError(f"{aligned}: no aligned faces folder (run `neuface detect` first)")
    with Faceset.open(aligned) as fs:
        if len(fs) == 0:
            raise UsageError(f"{aligned}: no aligned faces to curate")
        with progress_bars("faces") as bars:
            verdicts = score_faceset(fs, opts, bars("curating", len(fs)))
        write_json(json_path, aligned, verdicts, opts)
        result = CurateResult(verdicts, json_path)
        if sheet is not None:
            result.sheet_files = write_review_sheet(fs, verdicts, sheet)
    if apply:
        result.moved = apply_moves(aligned, trash_dir, result.flagged)
    return result


def restore_aligned(aligned: Path, trash_dir: Path) -> MoveReport:
    """Undo every `--apply` (see apply.restore_moves)."""
    return restore_moves(Path(aligned), Path(trash_dir))
