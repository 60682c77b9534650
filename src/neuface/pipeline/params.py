"""A stage's options from its neuface.toml table: the stage's own options class, as `neuface <stage>` reads it.

Each stage declares its options once (`neuface.<stage>.options`, see neuface.optionspec); the CLI builds its
flags from that class and `neuface run` loads the stage's table straight into it, so `[detect] size = 256`
means the same under `neuface run` as under `neuface detect`. Unlike click's default_map, an unknown key is
an error here: a typo in a config that drives a long unattended job should stop it before it starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuface.clean import CleanOptions
from neuface.curate.options import CurateOptions
from neuface.detect.options import DetectConfig
from neuface.doctor import DoctorOptions
from neuface.export.options import ExportOptions
from neuface.extract.options import ExtractOptions
from neuface.merge.options import MergeOptions
from neuface.optionspec import StageOptions
from neuface.pack.options import PackOptions, UnpackOptions
from neuface.pipeline.options import DemoOptions, RunOptions
from neuface.sort.options import SortOptions
from neuface.train.options import TrainOptions
from neuface.xseg.options import MaskOptions

# Every neuface.toml table: one per subcommand, named like it (the class's STAGE).
OPTIONS: dict[str, type[StageOptions]] = {cls.STAGE: cls for cls in (
    ExtractOptions, DetectConfig, SortOptions, CurateOptions, MaskOptions, PackOptions, UnpackOptions, TrainOptions,
    ExportOptions, CleanOptions, MergeOptions, RunOptions, DemoOptions, DoctorOptions)}


def stage_options(stage: str, table: Mapping[str, Any] | None, side: str | None = None,
                  where: str = "neuface.toml") -> Any:
    """The options `neuface <stage> [side]` runs with when `table` is its neuface.toml table.

    A bad key or value raises a one-line UsageError naming `where` and the table.
    """
    return OPTIONS[stage].from_table(table, where, side=side)


def plain(value: Any) -> Any:
    """A JSON-friendly form of a parsed option (enums by value, paths as strings) for stamps and logs."""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value") and not isinstance(value, int | float | str | bool):
        return value.value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
