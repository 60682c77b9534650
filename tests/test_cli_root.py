"""The root command: help, version, global options, neuface.toml precedence, unimplemented commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from neuface.cli import COMMANDS, app, main
from neuface.commands._context import AppState


def test_every_dfl_script_has_a_subcommand() -> None:
    for name in ("extract", "detect", "sort", "mask", "pack", "unpack", "train", "export", "clean", "doctor"):
        assert name in COMMANDS


def test_help_lists_subcommands() -> None:
    out = subprocess.run([sys.executable, "-m", "neuface", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in ("extract", "detect", "pack", "train", "export", "doctor"):
        assert name in out.stdout


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert "neuface" in capsys.readouterr().out


def test_unknown_option_is_usage_error() -> None:
    assert main(["--no-such-flag"]) != 0


def _capture_state(tmp_path: Path, args: list[str]) -> AppState:
    """Run the root callback with a probe subcommand that records the AppState."""
    seen: dict[str, object] = {}

    @app.command("probe-state", hidden=True)
    def probe(ctx: typer.Context, fps: float = 0.0) -> None:
        seen["state"] = ctx.find_root().obj
        seen["fps"] = fps

    try:
        assert main(["--workspace", str(tmp_path), *args]) == 0
    finally:
        app.registered_commands = [c for c in app.registered_commands if c.name != "probe-state"]
    state = seen["state"]
    assert isinstance(state, AppState)
    state.config["_fps"] = seen["fps"]
    return state


def test_config_file_sets_options_and_flags_win(tmp_path: Path) -> None:
    (tmp_path / "neuface.toml").write_text('device = "cpu"\nprecision = "fp32"\n[probe-state]\nfps = 5\n')
    state = _capture_state(tmp_path, ["probe-state"])
    assert state.device == "cpu" and state.precision == "fp32"
    assert state.config["_fps"] == 5
    state = _capture_state(tmp_path, ["--device", "cuda:1", "probe-state", "--fps", "2"])
    assert state.device == "cuda:1"
    assert state.config["_fps"] == 2


def test_bad_config_is_one_line_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "neuface.toml").write_text("device = = 1\n")
    code = main(["--workspace", str(tmp_path), "doctor"])
    assert code != 0
    err = capsys.readouterr().err
    assert "neuface.toml" in err and "invalid TOML" in err


def test_workspace_from_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NEUFACE_WORKSPACE", str(tmp_path / "ws"))
    from neuface.workspace import Workspace

    assert Workspace.at().root == tmp_path / "ws"


def test_errors_and_warnings_print_bracketed_text_literally() -> None:
    """Messages quote `[train]`-style config tables; rich markup must not swallow them."""
    from neuface.console import console, error, warn

    with console.capture() as cap:
        error("set [train] target-iter in neuface.toml")
        warn("[sort.dst] is ignored")
    text = cap.get()
    assert "[train] target-iter" in text and "[sort.dst] is ignored" in text


def test_info_detail_and_progress_print_bracketed_text_literally() -> None:
    """Paths and install hints (`neuface[cpu]`, `clip [1].mp4`) are text, not rich markup, at every level."""
    from neuface.console import console, detail, info, make_progress, set_verbosity, verbosity

    level = verbosity()
    set_verbosity(1)
    try:
        with console.capture() as cap:
            info("pip install 'neuface[cpu]' (or 'neuface[gpu]' on CUDA)")
            info("[sort.dst] is ignored", style="dim")
            detail("wrote clip [1].mp4 [bold]")
            with make_progress() as progress:
                progress.add_task("merge clip[cpu].mp4", total=1, rate="")
    finally:
        set_verbosity(level)
    text = cap.get()
    assert "'neuface[cpu]' (or 'neuface[gpu]' on CUDA)" in text and "[sort.dst] is ignored" in text
    assert "clip [1].mp4 [bold]" in text and "merge clip[cpu].mp4" in text
