"""`neuface run`'s and `neuface demo`'s options, declared once for the CLI and `[run]` in neuface.toml.

Every `run` option defaults to None, "not given": the flags, the workspace's `[run]` table (through click's
default_map) and a `--config` file's `[run]` table fill each other's gaps (`filled_from`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from neuface.optionspec import StageOptions, option
from neuface.pipeline.names import Stage

DEMO_TARGET_ITER = 60  # the demo's training length: enough for a visible swap in two minutes


@dataclass(frozen=True)
class RunOptions(StageOptions):
    """One `neuface run`: which config, which inputs, which stages, how far to train."""

    STAGE = "run"

    config: Path | None = option(None, flags=("--config", "-c"), show_default=False,
                                 help="Config file with the stage tables. Default: <workspace>/neuface.toml.")
    src: Path | None = option(None, show_default=False,
                              help="Source video (the face to learn). Default: workspace/data_src.*")
    dst: Path | None = option(None, show_default=False,
                              help="Destination video (the footage). Default: workspace/data_dst.*")
    src_faceset: Path | None = option(None, show_default=False,
                                      help="A ready-made src faceset instead of a src video: faceset.pak, a folder of "
                                           "aligned faces, or a zip of either; read in place (a zip that stores the "
                                           "pak uncompressed too), else extracted once.")
    dst_faceset: Path | None = option(None, show_default=False,
                                      help="A ready-made dst faceset instead of a dst video (e.g. DFL's "
                                           "random_dst_face_set.zip); as --src-faceset.")
    pretrained: Path | None = option(None, show_default=False,
                                     help="Start the model from a pretrained DFL SAEHD model (folder or zip) at "
                                          "iteration 0, as `neuface train --pretrained`; later runs continue it.")
    until: Stage | None = option(None, show_default=False, help="Stop after this stage.")
    from_stage: Stage | None = option(None, flags="--from", show_default=False,
                                      help="Run this stage and every later one again, even when up to date.")
    target_iter: int | None = option(None, min=1, show_default=False,
                                     help="Train to this iteration (else \\[train] target-iter).")

    def filled_from(self, other: RunOptions) -> RunOptions:
        """These options, with the ones not given (None) taken from `other` (a `--config` file's [run])."""
        return self.replace(**{f.name: getattr(other, f.name) for f in dataclasses.fields(self)
                               if f.name != "config" and getattr(self, f.name) is None})


@dataclass(frozen=True)
class DemoOptions(StageOptions):
    """Where `neuface demo` works and how long it trains."""

    STAGE = "demo"

    out: Path = option(Path("neuface-demo"),
                       help="Demo workspace folder (created; an existing demo folder is resumed).")
    target_iter: int | None = option(None, min=1, show_default=False,
                                     help=f"Train to this iteration instead of the demo's {DEMO_TARGET_ITER} (raise it "
                                          "to watch the swap improve).")
