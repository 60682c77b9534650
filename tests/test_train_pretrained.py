"""`neuface train --pretrained PATH`: a DFL model folder or its zip, read in place, starts a new model at 0."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from neuface.cli import main
from neuface.train.model_folder import read_data_dat
from test_train_helpers import make_workspace
from test_train_loop import _dfl_pretrained_folder


def _train(ws: Path, *args: str) -> int:
    return main(["-w", str(ws), "--device", "cpu", "--precision", "fp32", "-q", "train", "--workers", "0",
                 "--seed", "11", *args])


def _hashes(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def _zip(folder: Path, out: Path, method: int, prefix: str) -> Path:
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, f"{prefix}{p.name}")
    return out


@pytest.fixture(scope="module")
def downloads(model_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pretrained_model/ (DFL's files), and that folder zipped stored and deflated, under one folder."""
    root = tmp_path_factory.mktemp("downloads")
    _dfl_pretrained_folder(model_fixtures, root / "pretrained_model")
    _zip(root / "pretrained_model", root / "stored.zip", zipfile.ZIP_STORED, "workspace/model/")
    _zip(root / "pretrained_model", root / "deflated.zip", zipfile.ZIP_DEFLATED, "")
    return root


@pytest.fixture(scope="module")
def reference_loss(dfl_fixtures: Path, downloads: Path, tmp_path_factory: pytest.TempPathFactory) -> list[float]:
    """First-iteration losses DFL's workflow gives: the folder copied into workspace/model, --reset-iter."""
    import shutil

    ws = make_workspace(dfl_fixtures, tmp_path_factory.mktemp("ref") / "ws")
    shutil.copytree(downloads / "pretrained_model", ws / "model")
    assert _train(ws, "--name", "pretrained", "--reset-iter", "--target-iter", "1") == 0
    return read_data_dat(ws / "model" / "pretrained reset_SAEHD_data.dat")["loss_history"][0]


@pytest.mark.parametrize("source", ["stored.zip", "deflated.zip", "pretrained_model"])
def test_pretrained_starts_at_0_from_those_weights_and_writes_nothing_outside(
        dfl_fixtures: Path, downloads: Path, reference_loss: list[float], tmp_path: Path, source: str):
    before = _hashes(downloads)
    ws = make_workspace(dfl_fixtures, tmp_path / "ws")
    assert _train(ws, "--pretrained", str(downloads / source), "--target-iter", "1") == 0
    data = read_data_dat(ws / "model" / "pretrained_SAEHD_data.dat")
    assert data["iter"] == 1 and len(data["loss_history"]) == 1
    assert data["options"]["face_type"] == "f" and data["options"]["archi"] == "liae-ud"  # the pretrained model's
    assert data["neuface"]["reset_from"] == f"{source}:pretrained_SAEHD@500000"
    # Same weights, same seed, same faces as DFL's unzip + reset: the same first-step losses. Both runs do
    # the same float32 operations in the same order in one process each, so they agree to rounding (1e-6
    # relative covers reduction-order differences between two processes; a different start is ~10% off).
    assert data["loss_history"][0] == pytest.approx(reference_loss, rel=1e-6)
    assert _hashes(downloads) == before

    # A later run continues the new model (it does not start over from the pretrained one again).
    assert _train(ws, "--pretrained", str(downloads / source), "--target-iter", "2") == 0
    again = read_data_dat(ws / "model" / "pretrained_SAEHD_data.dat")
    assert again["iter"] == 2 and again["loss_history"][0] == data["loss_history"][0]
    assert _hashes(downloads) == before


def test_a_fresh_model_with_the_same_seed_has_another_first_loss(dfl_fixtures: Path, reference_loss: list[float],
                                                               tmp_path: Path):
    """The check above could not pass by accident: random weights give a different first loss."""
    ws = make_workspace(dfl_fixtures, tmp_path / "ws")
    assert _train(ws, "--resolution", "64", "--ae-dims", "64", "--e-dims", "32", "--d-dims", "32",
                  "--d-mask-dims", "16", "--face-type", "f", "--target-iter", "1") == 0
    fresh = read_data_dat(ws / "model" / "new_SAEHD_data.dat")["loss_history"][0]
    assert fresh != pytest.approx(reference_loss, rel=1e-2)


def test_pretrained_errors_are_one_line_and_name_the_file(dfl_fixtures: Path, downloads: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]):
    ws = make_workspace(dfl_fixtures, tmp_path / "ws")
    bad = tmp_path / "notes.zip"
    bad.write_bytes(b"not a zip")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    for path, words in [(tmp_path / "missing.zip", "no such file"), (bad, "not a DFL SAEHD model folder"),
                        (empty, "no DFL SAEHD model")]:
        assert _train(ws, "--pretrained", str(path), "--target-iter", "1") != 0
        err = capsys.readouterr().err
        assert str(path) in err and words in err, err
    assert _train(ws, "--pretrained", str(downloads / "stored.zip"), "--reset-iter", "--target-iter", "1") != 0
    assert "drop --reset-iter" in capsys.readouterr().err
    assert not (ws / "model").exists() or not any((ws / "model").glob("*_data.dat"))
