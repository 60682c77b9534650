"""`neuface sort`'s options, declared once for the CLI, `[sort]` in neuface.toml and `neuface run`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from neuface.optionspec import StageOptions, option

if TYPE_CHECKING:
    from neuface.sort.methods import SortMethod

METHOD_HELP = ("0 blur, 1 motion-blur, 2 face-yaw, 3 face-pitch, 4 face-source-rect-size, 5 hist, 6 hist-dissim, "
               "7 brightness, 8 hue, 9 black, 10 origname, 11 oneface, 12 absdiff, 13 final, 14 final-fast, "
               "15 identity (name or number). Without it: a menu on a terminal.")


@dataclass(frozen=True)
class SortOptions(StageOptions):
    """One sort run; `by` is a DFL method name, alias or menu number (None: the CLI asks)."""

    STAGE = "sort"

    by: str | None = option(None, flags="--by", help=METHOD_HELP, show_default=False)
    target: int = option(2000, help="final/final-fast: about how many faces to keep, exactly that many below 128 "
                                    "(the rest go to aligned_trash/).")
    dissimilar: bool = option(False, flags="--dissimilar",
                              help="absdiff: chain to the most different face instead of the most similar.")
    dry_run: bool = option(False, flags="--dry-run", help="Print the new order and each face's score; change nothing.")
    sheet: Path | None = option(None, show_default=False, help="Also write a contact sheet of the new order with "
                                                               "scores: FILE.png (paged) or FILE.html.")
    jobs: int = option(0, min=0, help="Worker processes for the metrics; 0 = one per core.")

    @property
    def method(self) -> SortMethod:
        """The method `by` names (a UsageError listing the methods when it names none)."""
        from neuface.sort.methods import get_method

        if self.by is None:
            raise ValueError("SortOptions.by is not set")
        return get_method(self.by)
