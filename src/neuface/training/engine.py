"""The engine protocol: what a trainer gives the shared loop (`neuface.training.loop.run_loop`).

An engine is one open model that draws its own batches; the loop asks it to step, save, preview and back up,
and reads its iteration. SAEHD's is `neuface.train.engine.SaehdEngine`, XSeg's `neuface.xseg.train.XSegEngine`
(which subclasses the protocol for its defaults: one process, no backups).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class TrainingEngine(Protocol):
    """`label` names the progress bar, `loss_names` the losses `step()` returns (status line, TensorBoard tags);
    only a `writer` (rank 0 under torchrun) writes files. `iteration` is the model's total count (DFL's
    `iter`); previews and TensorBoard scalars go to `history_dir`."""

    @property
    def label(self) -> str: ...
    @property
    def loss_names(self) -> tuple[str, ...]: ...
    @property
    def writer(self) -> bool: ...
    @property
    def iteration(self) -> int: ...
    @property
    def history_dir(self) -> Path: ...

    def should_stop(self, signalled: bool) -> bool:
        """Stop now? `signalled`: this process got SIGINT/SIGTERM (under torchrun: true if any rank did)."""
        return signalled

    def step(self) -> Sequence[float]:
        """One training step on the engine's next batch; returns its losses."""

    def save(self) -> None:
        """Write the model's files, atomically, with the state an exact resume needs."""

    def preview(self) -> None:
        """Write the preview images (the loop only warns on an OSError)."""

    def backup(self) -> Path | None:
        """Back up the saved files; returns the backup folder, None for a model that keeps no backups."""
        return None
