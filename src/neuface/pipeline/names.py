"""Stage names in pipeline order (kept free of heavy imports: the CLI reads them to build `--help`)."""

from __future__ import annotations

from enum import Enum


class Stage(str, Enum):
    """The stages `neuface run` chains, in order; each one is also a `neuface` subcommand."""

    extract = "extract"
    detect = "detect"
    sort = "sort"
    curate = "curate"
    mask = "mask"
    pack = "pack"
    train = "train"
    export = "export"


ORDER: tuple[Stage, ...] = tuple(Stage)
PER_SIDE: frozenset[Stage] = frozenset({Stage.extract, Stage.detect, Stage.sort, Stage.curate, Stage.mask,
                                        Stage.pack})


def stage_index(stage: Stage | str) -> int:
    return ORDER.index(Stage(stage))
