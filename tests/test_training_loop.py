"""The shared training loop (`neuface.training.loop`) over a counting engine: when it saves, previews, backs up and
stops. The trainers' own runs (SAEHD in test_train_loop.py, XSeg in test_xseg_train.py) go through the same loop."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from neuface.training.loop import LoopEnd, LoopPlan, run_loop, status


class Counting:
    """A `TrainingEngine` whose step only counts: the loop's calls are recorded as (what, iteration)."""

    label = "count"
    loss_names = ("a", "b")
    writer = True

    def __init__(self, folder: Path, start: int = 0, signals_at: int = 0, signals: int = 1):
        self.iteration, self.history_dir = start, folder
        self.signals_at, self.signals = signals_at, signals
        self.calls: list[tuple[str, int]] = []

    def should_stop(self, signalled: bool) -> bool:
        return signalled

    def step(self) -> tuple[float, float]:
        self.iteration += 1
        if self.iteration == self.signals_at:
            for _ in range(self.signals):
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does
        return 1.0 / self.iteration, 0.5

    def save(self) -> None:
        self.calls.append(("save", self.iteration))

    def preview(self) -> None:
        self.calls.append(("preview", self.iteration))

    def backup(self) -> Path:
        self.calls.append(("backup", self.iteration))
        return self.history_dir / "01"


def test_saves_and_previews_first_backs_up_every_n_and_stops_exactly_at_the_target(tmp_path: Path):
    engine = Counting(tmp_path)
    end = run_loop(engine, LoopPlan(target=5, save_every_min=0, preview_every_min=0, backup_every=2))
    assert end == LoopEnd(5, stopped=False)
    assert engine.calls == [("save", 1), ("preview", 1),
                            ("save", 2), ("backup", 2), ("preview", 2),
                            ("save", 4), ("backup", 4), ("preview", 4),
                            ("save", 5), ("backup", 5), ("preview", 5)]  # the target is saved and backed up


def test_a_step_limit_saves_at_the_end_and_a_reached_target_does_nothing(tmp_path: Path):
    engine = Counting(tmp_path, start=10)
    assert run_loop(engine, LoopPlan(max_iters=3, save_every_min=0, preview_every_min=0)) == LoopEnd(13, False)
    assert engine.calls == [("save", 11), ("preview", 11), ("save", 13), ("preview", 13)]
    engine.calls.clear()
    assert run_loop(engine, LoopPlan(target=13)) == LoopEnd(13, False) and engine.calls == []


def test_sigint_finishes_the_step_saves_and_restores_the_handlers(tmp_path: Path, capsys):
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    engine = Counting(tmp_path, signals_at=3)
    end = run_loop(engine, LoopPlan(max_iters=100, save_every_min=0, preview_every_min=0))
    assert end == LoopEnd(3, stopped=True)
    assert engine.calls[-2:] == [("save", 3), ("preview", 3)]
    assert "stopped at iteration 3 (SIGINT); model saved" in capsys.readouterr().err
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_second_ctrl_c_stops_at_once(tmp_path: Path):
    engine = Counting(tmp_path, signals_at=2, signals=2)
    with pytest.raises(KeyboardInterrupt):
        run_loop(engine, LoopPlan(max_iters=100, save_every_min=0, preview_every_min=0))
    assert engine.calls == [("save", 1), ("preview", 1)]  # nothing written after the second signal


def test_status_line():
    """SAEHD's line as before the shared loop; XSeg's in the same layout."""
    saehd = status(12, 840.0, ("src", "dst"), (0.43214, 0.3912), 30)
    assert saehd == "iter 12/30      840 ms/it  src 0.4321  dst 0.3912"
    assert status(7, 12.5, ("xseg",), (0.25,), 0) == "iter 7       12 ms/it  xseg 0.2500"
