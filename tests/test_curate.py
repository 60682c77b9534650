"""`neuface curate` on real faces: each signal, apply/restore (folder and pak), dry run, CLI errors, quality.

The labelled set is generated (benchmarks/curate_labelled.py) from ../shared/fixtures/real in a temp folder
once per module: real talking-head frames, detected with the dlib backend, with defects made on purpose.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from neuface.cli import main
from neuface.curate.curator import curate_aligned, restore_aligned
from neuface.curate.options import REASONS, CurateOptions
from neuface.curate.score import score_faceset
from neuface.errors import UsageError
from neuface.faceset.faceset import Faceset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from curate_labelled import build  # noqa: E402
from curate_quality import evaluate  # noqa: E402

N_CLEAN, PER_VARIANT, SEED = 40, 4, 2  # seed 2: neither the tuning set (0) nor the benchmark's (1)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory, real_media: Path) -> tuple[Path, dict[str, str | None]]:
    work = tmp_path_factory.mktemp("curate_set")
    labels = build(work, N_CLEAN, PER_VARIANT, SEED)
    return work / "aligned", labels


@pytest.fixture(scope="module")
def verdicts(labelled):
    aligned, _ = labelled
    with Faceset.open(aligned) as fs:
        return {v.name: v for v in score_faceset(fs, CurateOptions(jobs=1))}


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("reason", REASONS)
def test_each_signal_flags_its_defect_and_no_clean_face(labelled, verdicts, reason: str) -> None:
    _, labels = labelled
    bad = [verdicts[n].scores[reason] for n, r in labels.items() if r == reason]
    clean = [verdicts[n].scores[reason] for n, r in labels.items() if r is None]
    assert bad and clean
    # Scores are measure/threshold: the typical defect is past the line, and no untouched face is.
    assert np.median(bad) > 1.0, (reason, sorted(bad))
    assert max(clean) < 1.0, (reason, sorted(clean)[-3:])


def test_quality_goals_on_a_small_set(labelled, verdicts) -> None:
    _, labels = labelled
    flagged = {n: {v.primary} if v.primary else set() for n, v in verdicts.items()}
    result = evaluate(labels, flagged)
    for reason in REASONS:
        r, n = result[reason], result[reason]["n"]
        # Goal: recall >= 0.9, precision >= 0.8. With n = 4..8 defects per reason one face is 12-25%, so the
        # small set allows one miss and one wrong flag per reason (the full benchmark, 20 per reason, meets
        # the goals as stated: README table).
        assert r["recall"] * n >= n - 1, (reason, r)
        assert r["flagged"] - r["precision"] * r["flagged"] <= 1 + 1e-9, (reason, r)
    clean = result["clean"]
    assert clean["flagged"] * clean["n"] <= 0.05 * clean["n"] + 1, clean  # 5% of 40 is 2; one face of slack


def test_xseg_mask_occlusion_is_used_when_stored(labelled, tmp_path: Path) -> None:
    from neuface.dfl.landmarks import get_image_hull_mask
    from neuface.faceset import dfljpg

    aligned, labels = labelled
    clean = sorted(n for n, r in labels.items() if r is None)[:12]
    folder = tmp_path / "aligned"
    folder.mkdir()
    for k, name in enumerate(clean):
        shutil.copyfile(aligned / name, folder / name)
        meta = dfljpg.read_meta(folder / name)
        hull = get_image_hull_mask((256, 256), meta.landmarks)[:, :, 0]
        if k == 0:
            hull[128:, :] = 0  # the mask removes the lower half of the face: a hand over mouth and chin
        meta.set_xseg_mask(hull)
        dfljpg.update_meta(folder / name, meta)
    with Faceset.open(folder) as fs:
        v = {x.name: x for x in score_faceset(fs, CurateOptions(jobs=1))}
    assert v[clean[0]].primary == "occluded"
    assert all("occluded" not in v[n].reasons for n in clean[1:])


def _workspace(tmp_path: Path, aligned: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(aligned, ws / "data_src" / "aligned")
    return ws


def test_dry_run_changes_nothing_and_writes_json_and_sheet(labelled, tmp_path: Path) -> None:
    import json

    ws = _workspace(tmp_path, labelled[0])
    before = _tree_hashes(ws / "data_src")
    assert main(["-q", "-w", str(ws), "curate", "src", "--sheet", str(tmp_path / "review.png"), "--jobs", "1"]) == 0
    after = _tree_hashes(ws / "data_src")
    assert after.pop("curate.json")
    assert after == before
    doc = json.loads((ws / "data_src" / "curate.json").read_text())
    assert doc["faces_scored"] == len(before) and doc["flagged"] > 0
    assert (tmp_path / "review.png").is_file()


def test_apply_then_restore_loses_nothing_folder(labelled, tmp_path: Path) -> None:
    ws = _workspace(tmp_path, labelled[0])
    aligned, trash = ws / "data_src" / "aligned", ws / "data_src" / "aligned_trash"
    before = _tree_hashes(aligned)
    result = curate_aligned(aligned, trash, tmp_path / "c.json", CurateOptions(jobs=1), apply=True)
    assert result.moved is not None and result.moved.total == len(result.flagged) > 0
    for name, reason in result.flagged.items():
        assert not (aligned / name).exists()
        assert hashlib.sha256((trash / reason / name).read_bytes()).hexdigest() == before[name]
    assert len(_tree_hashes(aligned)) == len(before) - len(result.flagged)
    restore_aligned(aligned, trash)
    assert _tree_hashes(aligned) == before
    assert not trash.exists() or not any(trash.rglob("*"))


def test_apply_then_restore_loses_nothing_pak(labelled, tmp_path: Path) -> None:
    from neuface.pack import pack_faceset

    ws = _workspace(tmp_path, labelled[0])
    aligned, trash = ws / "data_src" / "aligned", ws / "data_src" / "aligned_trash"
    pack_faceset(aligned)
    pak = aligned / "faceset.pak"
    pak_hash = hashlib.sha256(pak.read_bytes()).hexdigest()
    with Faceset.open(aligned) as fs:
        faces = [(r.name, hashlib.sha256(r.load_bytes()).hexdigest()) for r in fs]
    result = curate_aligned(aligned, trash, tmp_path / "c.json", CurateOptions(jobs=1), apply=True)
    with Faceset.open(aligned) as fs:
        left = [r.name for r in fs]
    assert len(left) == len(faces) - len(result.flagged) and not set(left) & set(result.flagged)
    restore_aligned(aligned, trash)
    with Faceset.open(aligned) as fs:
        assert [(r.name, hashlib.sha256(r.load_bytes()).hexdigest()) for r in fs] == faces
    assert hashlib.sha256(pak.read_bytes()).hexdigest() == pak_hash  # the whole file, sample table included


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    (ws / "data_src" / "aligned").mkdir(parents=True)
    cases = [["curate", "src"], ["curate", "src", "--cut-max", "2"], ["curate", "src", "--restore"],
             ["curate", "src", "--sheet", "x.gif"]]
    for args in cases:
        capsys.readouterr()
        assert main(["-w", str(ws), *args]) != 0, args
        err = capsys.readouterr().err.strip()
        assert err and len(err.splitlines()) == 1, (args, err)
    with pytest.raises(UsageError, match="must be a number"):
        CurateOptions(blur_z=-1).validated()


def test_pipeline_reads_curate_table() -> None:
    from neuface.pipeline.names import ORDER, Stage
    from neuface.pipeline.params import stage_options

    assert ORDER.index(Stage.sort) < ORDER.index(Stage.curate) < ORDER.index(Stage.mask)
    p = stage_options("curate", {"apply": True, "blur_z": 3.5}, "src")
    assert p.apply is True and p.blur_z == 3.5
    with pytest.raises(UsageError, match="no option"):
        stage_options("curate", {"aply": True}, "src")


def test_run_step_between_sort_and_mask(labelled, tmp_path: Path) -> None:
    import json

    ws = _workspace(tmp_path, labelled[0])
    shutil.copytree(labelled[0], ws / "data_dst" / "aligned")
    (ws / "neuface.toml").write_text('[curate.src]\napply = true\njobs = 1\n')
    assert main(["-q", "-w", str(ws), "--device", "cpu", "run", "--until", "curate"]) == 0
    steps = {s["step"]: s for s in json.loads((ws / "run_summary.json").read_text())["steps"]}
    assert steps["curate src"]["status"] == "done" and steps["curate dst"]["status"] == "off"
    assert steps["curate src"]["counts"]["moved"] > 0
    assert (ws / "data_src" / "aligned_trash" / "curate_manifest.json").is_file()
    assert not (ws / "data_dst" / "aligned_trash").exists()
