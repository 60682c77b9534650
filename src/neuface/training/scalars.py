"""TensorBoard loss scalars, optional: a trainer runs the same with or without the `tensorboard` package."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from neuface.console import warn


class Scalars:
    """Loss scalars `loss/<name>` in `<history>/tensorboard/` when the optional `tensorboard` package is installed.

    Never stops training: without tensorboard, or once a write fails, it does nothing. `names` tag the
    losses in the order `add` gets them (unnamed ones by position).
    """

    def __init__(self, folder: Path, enabled: bool = True, names: Sequence[str] = ()):
        self.writer = None
        self.names = tuple(names)
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        try:
            self.writer = SummaryWriter(str(folder / "tensorboard"))
        except Exception as exc:  # noqa: BLE001 - a logging extra must not stop training
            warn(f"TensorBoard scalars off: {exc}")

    def add(self, iteration: int, losses: Sequence[float]) -> None:
        if self.writer is None:
            return
        try:
            for i, value in enumerate(losses):
                self.writer.add_scalar(f"loss/{self.names[i] if i < len(self.names) else i}", value, iteration)
        except Exception as exc:  # noqa: BLE001
            warn(f"TensorBoard scalars off: {exc}")
            self.close()

    def close(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):  # closing a log on the way out
                self.writer.close()
            self.writer = None
