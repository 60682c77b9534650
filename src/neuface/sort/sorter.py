"""`sort_aligned`: measure every face, plan DFL's order, optionally draw a contact sheet, then rename.

The one library call behind `neuface sort`. Order of work: finish any interrupted sort (journal), list the
faces, compute the metric on all cores, plan, write the sheet (read-only), and only then move files
through the journal, so a failure before the last step changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuface.console import info, track
from neuface.errors import UsageError
from neuface.faceset.pak import PAK_NAME
from neuface.sort import rename
from neuface.sort.faces import list_images, read_image
from neuface.sort.methods import PlanInput, SortMethod
from neuface.sort.options import SortOptions
from neuface.sort.order import Plan
from neuface.sort.parallel import default_jobs, measure_all, progress_bars


@dataclass
class SortResult:
    method: SortMethod
    names: list[str]
    plan: Plan
    renamed: rename.RenameReport | None = None
    recovered: rename.RenameReport | None = None
    sheet_files: list[Path] = field(default_factory=list)

    @property
    def new_names(self) -> list[str]:
        return [rename.final_name(i, self.names[k]) for i, k in enumerate(self.plan.keep)]


def format_score(value: Any) -> str:
    """A score for people: 4 significant digits, integers plain, text as is, '-' when there is none."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    v = float(value)
    if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4g}"


def _check_folder(aligned: Path) -> None:
    from neuface.faceset import ensure_not_mixed

    # A pak beside loose images: renaming the loose copies would make them disagree with the pak DFL reads.
    ensure_not_mixed(aligned, "sort")
    if (aligned / PAK_NAME).exists():
        raise UsageError(f"{aligned / PAK_NAME}: sorting works on aligned image folders, not on a packed "
                         f"faceset; run `neuface unpack` first")
    if not aligned.is_dir():
        raise UsageError(f"{aligned}: no aligned faces folder (run `neuface detect` first)")


def _check_sheet(sheet: Path | None) -> None:
    from neuface.sheet import HTML_SUFFIXES, PNG_SUFFIXES

    if sheet is not None and sheet.suffix.lower() not in PNG_SUFFIXES + HTML_SUFFIXES:
        raise UsageError(f"{sheet}: --sheet must end in .png or .html")


def plan_sort(paths: list[Path], opts: SortOptions) -> Plan:
    """Measure and plan (no file is changed)."""
    method = opts.method
    names = [p.name for p in paths]
    if method.key == "absdiff":
        from neuface.sort.absdiff import sort_absdiff

        with progress_bars("faces") as bar:
            return sort_absdiff(paths, similar=not opts.dissimilar, jobs=opts.jobs or default_jobs(), progress=bar)
    values = measure_all(method.key, paths, jobs=opts.jobs, description=f"sort by {method.key}")
    return method.plan(values, PlanInput(names=names, target=opts.target))


def _sheet_items(paths: list[Path], plan: Plan, new_names: list[str], jobs: int) -> Iterator[Any]:
    from neuface.sheet import SheetItem

    entries = [(paths[k], f"{format_score(plan.scores[k])} {new}") for new, k in zip(new_names, plan.keep,
                                                                                       strict=True)]
    entries += [(paths[k], f"{format_score(plan.scores[k])} trash/{paths[k].name}") for k in plan.trash]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        # A bounded look-ahead keeps memory flat for thousands of faces.
        window = jobs * 8
        for start in range(0, len(entries), window):
            part = entries[start:start + window]
            for (_, caption), image in zip(part, pool.map(lambda e: read_image(e[0]), part), strict=True):
                yield SheetItem(image, caption)


def write_sort_sheet(paths: list[Path], plan: Plan, new_names: list[str], sheet: Path, title: str,
                     jobs: int | None = None) -> list[Path]:
    """Contact sheet of the faces in their new order (then the trashed ones), score under each."""
    from neuface.sheet import write_sheet

    total = len(plan.keep) + len(plan.trash)
    items = track(_sheet_items(paths, plan, new_names, jobs or default_jobs()), total, "sheet", "faces")
    return write_sheet(items, sheet, title=title)


def sort_aligned(aligned: Path, trash_dir: Path, opts: SortOptions) -> SortResult:
    """Sort the faces in `aligned` by `opts.method`; rejects go to `trash_dir`. See the module docstring."""
    aligned, trash_dir = Path(aligned), Path(trash_dir)
    _check_folder(aligned)
    _check_sheet(opts.sheet)
    if opts.method.key in ("final", "final-fast"):
        from neuface.sort.best import check_target

        check_target(opts.target)
    recovered = None
    if rename.pending_journal(aligned) is not None:
        if opts.dry_run:
            raise UsageError(f"{aligned}: an interrupted sort is pending; run `neuface sort` without --dry-run "
                             f"to finish it first")
        info("finishing an interrupted sort first")
        recovered = rename.recover(aligned)
    paths = list_images(aligned)
    if not paths:
        raise UsageError(f"{aligned}: no aligned faces to sort")
    plan = plan_sort(paths, opts)
    result = SortResult(opts.method, [p.name for p in paths], plan, recovered=recovered)
    if plan.nothing_to_do:
        info(f"nothing to do: {plan.nothing_to_do}")
        return result
    if opts.sheet is not None:
        result.sheet_files = write_sort_sheet(paths, plan, result.new_names, opts.sheet,
                                              f"sort by {opts.method.key}: {aligned}", opts.jobs)
    if opts.dry_run:
        return result
    journal = rename.plan_moves(aligned, trash_dir, [result.names[k] for k in plan.keep],
                                [result.names[k] for k in plan.trash])
    with progress_bars("files") as bar:
        advance = bar("renaming", len(journal["keep"]) * 2 + len(journal["trash"]))
        result.renamed = rename.execute(aligned, journal, on_move=advance)
    return result
