"""train, merge and run options (neuface.optionspec): a neuface.toml table and the equivalent flags give equal
objects, `neuface run` reads the same ones, and a bad value is a one-line error naming the file.

The CLI path is the real one (typer parses the flags, or the workspace's table through click's default_map);
the table path is `StageOptions.from_table`, which `neuface run` uses. A captured call receives the object.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _option_capture import capture, write_toml
from neuface.cli import COMMANDS, main
from neuface.errors import UsageError
from neuface.merge.options import MergeOptions
from neuface.pipeline.names import Stage
from neuface.pipeline.options import RunOptions
from neuface.pipeline.params import OPTIONS, stage_options
from neuface.train.options import SAEHDOptions, TrainOptions

TRAIN_TOML = """[train]
name = "me"
archi = "df-ud"
resolution = 96
face-type = "f"
masked-training = false
lr = 1e-4
lr-dropout = "y"
gan-power = 0.1
seed = 3
target-iter = 10
save-every-min = 1.5
compile = true
workers = 0
pretrained = "p.zip"
consent = "they agreed"
"""
TRAIN_FLAGS = ["--name", "me", "--archi", "df-ud", "--resolution", "96", "--face-type", "f", "--no-masked-training",
               "--lr", "1e-4", "--lr-dropout", "y", "--gan-power", "0.1", "--seed", "3", "--target-iter", "10",
               "--save-every-min", "1.5", "--compile", "--workers", "0", "--pretrained", "p.zip",
               "--consent", "they agreed"]
TRAIN_WANT = TrainOptions(name="me", archi="df-ud", resolution=96, face_type="f", masked_training=False, lr=1e-4,
                          lr_dropout="y", gan_power=0.1, seed=3, target_iter=10, save_every_min=1.5, compile=True,
                          workers=0, pretrained=Path("p.zip"), consent="they agreed")


def test_train_table_flags_and_run_give_equal_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture(monkeypatch, "neuface.train.options.TrainOptions.train_run", TrainOptions)
    ws = tmp_path / "ws"
    assert main(["-w", str(ws), "train", *TRAIN_FLAGS]) == 0
    path = write_toml(ws, TRAIN_TOML)
    assert main(["-w", str(ws), "train"]) == 0  # the table through click's default_map
    assert seen == [TRAIN_WANT, TRAIN_WANT]
    from neuface.config import load_config

    table = load_config(path)["train"]
    assert TrainOptions.from_table(table, str(path)) == TRAIN_WANT
    assert stage_options("train", table) == TRAIN_WANT  # what `neuface run`'s train step reads
    assert main(["-w", str(ws), "train", "--resolution", "64"]) == 0  # a flag wins over the table
    assert seen[-1] == TRAIN_WANT.replace(resolution=64)


def test_train_options_ask_the_trainer_for_the_given_saehd_options_only() -> None:
    run = TRAIN_WANT.train_run()
    assert run.overrides == {"archi": "df-ud", "resolution": 96, "face_type": "f", "masked_training": False,
                             "lr_dropout": "y", "gan_power": 0.1, "target_iter": 10}
    assert set(run.overrides) <= set(SAEHDOptions.keys())
    assert (run.name, run.lr, run.seed, run.save_every_min, run.compile, run.workers, run.pretrained,
            run.consent) == ("me", 1e-4, 3, 1.5, True, 0, Path("p.zip"), "they agreed")
    assert TrainOptions().train_run().overrides == {}


MERGE_TOML = """[merge]
dfm = "m.dfm"
out = "o.mp4"
mode = "seamless"
mask-mode = "xseg-dst"
erode = -20
color-transfer = "mkl-m"
sharpen-mode = "box"
label = false
max-faces = 2
smooth = false
smooth-strength = 0.25
face-type = "f"
batch-size = 3
crf = 30
force = true
"""
MERGE_FLAGS = ["--dfm", "m.dfm", "-o", "o.mp4", "--mode", "seamless", "--mask-mode", "xseg-dst", "--erode", "-20",
               "--color-transfer", "mkl-m", "--sharpen-mode", "box", "--no-label", "--max-faces", "2", "--no-smooth",
               "--smooth-strength", "0.25", "--face-type", "f", "--batch-size", "3", "--crf", "30", "--force"]
MERGE_WANT = MergeOptions(dfm=Path("m.dfm"), out=Path("o.mp4"), mode="seamless", mask_mode="xseg-dst", erode=-20,
                          color_transfer="mkl-m", sharpen_mode="box", label=False, max_faces=2, smooth=False,
                          smooth_strength=0.25, face_type="f", batch_size=3, crf=30, force=True)


def test_merge_table_and_flags_give_equal_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = capture(monkeypatch, "neuface.merge.pipeline.run_merge", MergeOptions)
    ws = tmp_path / "ws"
    assert main(["-w", str(ws), "merge", *MERGE_FLAGS]) == 0
    path = write_toml(ws, MERGE_TOML)
    assert main(["-w", str(ws), "merge"]) == 0
    assert seen == [MERGE_WANT, MERGE_WANT]
    from neuface.config import load_config

    assert MergeOptions.from_table(load_config(path)["merge"], str(path)) == MERGE_WANT
    assert main(["-w", str(ws), "--device", "cpu", "merge", "v.mp4", "--crf", "20"]) == 0
    assert seen[-1] == MERGE_WANT.replace(video=Path("v.mp4"), crf=20, device="cpu")  # the root --device reaches it


def test_out_of_range_values_are_one_line_errors_naming_the_file(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "neuface.toml")
    with pytest.raises(UsageError) as exc:
        MergeOptions.from_table({"erode": 401}, path)
    assert str(exc.value) == f"{path}: [merge]: --erode 401: expected -400..400 (DFL's range)"
    with pytest.raises(UsageError) as exc:
        MergeOptions.from_table({"crf": 52}, path)
    assert str(exc.value) == f"{path}: [merge]: Invalid value for '--crf': Input should be less than or equal to 51"
    with pytest.raises(UsageError, match=r"--mask-mode 'xseg': unknown term"):
        stage_options("merge", {"mask_mode": "xseg"}, where=path)
    with pytest.raises(UsageError, match="has no option 'dims'"):
        TrainOptions.from_table({"dims": 3}, path)

    # `neuface run` stops on a bad [train] value before any work, with one line naming the file.
    ws = tmp_path / "ws"
    toml = write_toml(ws, '[train]\nresolution = "big"\n')
    assert main(["-w", str(ws), "run"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {toml}: [train]: Invalid value for '--resolution': Input should be a valid integer, unable to parse "
        "string as an integer"]
    # A --config file's [run] table: the same.
    job = tmp_path / "job.toml"
    job.write_text("[run]\ntarget-iter = 0\n")
    assert main(["-w", str(ws), "run", "--config", str(job)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {job}: [run]: Invalid value for '--target-iter': Input should be greater than or equal to 1"]


def test_run_options_fill_their_gaps_from_a_config_file() -> None:
    given = RunOptions(config=Path("job.toml"), src=Path("a.mp4"), target_iter=5)
    table = RunOptions.from_table({"src": "b.mp4", "dst": "d.mp4", "until": "train", "from_stage": "sort",
                                   "target_iter": 9, "config": "other.toml"})
    assert given.filled_from(table) == RunOptions(config=Path("job.toml"), src=Path("a.mp4"), dst=Path("d.mp4"),
                                                  until=Stage.train, from_stage=Stage.sort, target_iter=5)


def test_every_command_has_its_table() -> None:
    """neuface.toml has one table per subcommand; `neuface run` warns about any other."""
    assert set(OPTIONS) == set(COMMANDS)
    assert all(cls.STAGE == name for name, cls in OPTIONS.items())
