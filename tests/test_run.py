"""`neuface run`: resumable steps, forced re-runs, staleness, failures with hints, DFL assets.

Real clips (the demo's public-domain portraits through its virtual cameras, 8 frames each),
real dlib detection, real DFL fixture paks and XSeg weights. Training is covered in test_demo.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from neuface.cli import main
from neuface.faceset import Faceset
from neuface.pipeline.clips import CameraPath, make_clip
from neuface.pipeline.demo import FACES
from neuface.workspace import Side

FRAMES = 8
CONFIG = """\
[detect]
size = 128
[train]
resolution = 64
ae-dims = 32
e-dims = 16
d-dims = 16
d-mask-dims = 16
batch-size = 2
workers = 0
"""


def _clip(path: Path, side: Side = Side.src, still=None) -> Path:
    face = FACES[side]
    make_clip(face.load_bgr() if still is None else still, face.camera, path, seconds=FRAMES / 12, fps=12)
    return path


def _ws(root: Path, config: str = CONFIG, videos: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "neuface.toml").write_text(config)
    if videos:
        for side in Side:
            _clip(root / f"data_{side.value}.mp4", side)
    return root


def _run(ws: Path, *args: str) -> int:
    return main(["-w", str(ws), "--device", "cpu", "run", *args])


def _steps(ws: Path) -> dict[str, dict]:
    return {s["step"]: s for s in json.loads((ws / "run_summary.json").read_text())["steps"]}


def _status(ws: Path) -> dict[str, str]:
    return {k: v["status"] for k, v in _steps(ws).items()}


@pytest.fixture(scope="module")
def detected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace run up to detect (kept pristine: tests copy it)."""
    ws = _ws(tmp_path_factory.mktemp("run") / "ws")
    assert _run(ws, "--until", "detect") == 0
    return ws


@pytest.fixture
def ws(detected: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(detected, dst)
    return dst


def test_until_runs_only_the_first_stages(detected: Path) -> None:
    st = _status(detected)
    assert [st[f"{s} {side}"] for s in ("extract", "detect") for side in ("src", "dst")] == ["done"] * 4
    assert {st[k] for k in ("sort src", "mask dst", "pack src", "train", "export")} == {"not requested"}
    steps = _steps(detected)
    assert steps["extract src"]["counts"]["frames"] == FRAMES
    assert steps["detect dst"]["counts"]["faces"] == FRAMES
    assert steps["detect src"]["seconds"] > 0 and steps["detect src"]["started"]
    log = (detected / "run.log").read_text()
    assert "extract src: started" in log and "detect dst: done in" in log and "run ok" in log


def test_second_run_skips_and_says_why(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.stat().st_mtime_ns for p in (ws / "data_src" / "aligned").iterdir())
    assert _run(ws, "--until", "detect") == 0
    steps = _steps(ws)
    assert steps["extract src"]["status"] == "skipped"
    assert steps["extract src"]["reason"].startswith(f"up to date: {FRAMES} frames")
    assert steps["detect dst"]["reason"].startswith(f"up to date: {FRAMES} faces")
    assert sorted(p.stat().st_mtime_ns for p in (ws / "data_src" / "aligned").iterdir()) == before
    assert "detect src: skipped" in capsys.readouterr().err


def test_newer_video_redoes_its_side_and_keeps_old_faces(ws: Path) -> None:
    video = ws / "data_src.mp4"
    later = time.time() + 5
    os.utime(video, (later, later))
    assert _run(ws, "--until", "detect") == 0
    steps = _steps(ws)
    assert steps["extract src"]["status"] == "done"
    assert steps["extract src"]["reason"] == "its input files changed since"
    assert steps["detect src"]["status"] == "done"
    assert steps["detect src"]["reason"] == "an earlier step ran again since"
    assert steps["extract dst"]["status"] == steps["detect dst"]["status"] == "skipped"
    # detect replaced aligned/ only after moving the old faces aside: nothing is lost.
    backups = list((ws / "data_src").glob("aligned_backup_*"))
    assert len(backups) == 1 and len(list((backups[0] / "aligned").glob("*.jpg"))) == FRAMES


def test_changed_option_reruns_and_from_forces(ws: Path) -> None:
    (ws / "neuface.toml").write_text(CONFIG + "[extract.dst]\nfps = 6\n")
    assert _run(ws, "--until", "extract") == 0
    steps = _steps(ws)
    assert steps["extract src"]["status"] == "skipped"
    assert steps["extract dst"]["status"] == "done"
    assert steps["extract dst"]["reason"] == "options changed: fps 0.0 -> 6.0"
    assert steps["extract dst"]["counts"]["frames"] == 4
    assert _run(ws, "--from", "extract", "--until", "extract") == 0
    steps = _steps(ws)
    assert steps["extract src"]["status"] == "done" and steps["extract src"]["reason"] == "forced by --from"


def test_sort_and_pack_then_sort_again_on_the_pak(ws: Path) -> None:
    (ws / "neuface.toml").write_text(CONFIG + '[sort.src]\nby = "hist"\njobs = 1\n')
    assert _run(ws, "--until", "pack") == 0
    st = _status(ws)
    assert st["sort src"] == "done" and st["sort dst"] == "off" and st["mask src"] == "off"
    assert st["pack src"] == st["pack dst"] == "done"
    aligned = ws / "data_src" / "aligned"
    assert [p.name for p in aligned.iterdir()] == ["faceset.pak"]
    with Faceset.open(aligned) as fs:
        names = fs.names()
    assert names == [f"{i:05d}.jpg" for i in range(FRAMES)]  # DFL's sorted names
    # Forced from sort: the pak is unpacked (verified), sorted, and packed again.
    assert _run(ws, "--from", "sort", "--until", "pack") == 0
    st = _status(ws)
    assert st["sort src"] == st["pack src"] == "done" and st["pack dst"] == "skipped"
    with Faceset.open(aligned) as fs:
        assert fs.is_pak and fs.names() == names


def test_faces_deleted_by_hand_are_packed_and_never_ignored(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DFL's habit: delete bad faces from aligned/ between detect and pack. Detect keeps the deletion (it does not
    run again), pack packs what is left; loose copies kept beside a pak that no longer match it stop the run."""
    aligned = ws / "data_src" / "aligned"
    for bad in sorted(aligned.glob("*.jpg"))[:2]:
        bad.unlink()
    (ws / "neuface.toml").write_text(CONFIG + "[pack.dst]\nkeep = true\n")
    assert _run(ws, "--until", "pack") == 0
    steps = _steps(ws)
    assert steps["detect src"]["status"] == "skipped"
    assert steps["pack src"]["counts"]["packed"] == FRAMES - 2
    assert steps["pack dst"]["counts"]["packed"] == FRAMES and len(list((ws / "data_dst" / "aligned").glob("*.jpg")))
    sorted((ws / "data_dst" / "aligned").glob("*.jpg"))[0].unlink()  # an edit the pak does not have
    assert _run(ws, "--until", "pack") == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert "pack dst failed:" in err and f"faceset.pak with {FRAMES} faces and {FRAMES - 1} loose" in err
    assert (ws / "data_dst" / "aligned" / "faceset.pak").is_file()  # nothing removed


def test_failing_video_stops_with_hint_then_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _ws(tmp_path / "ws", videos=False)
    _clip(ws / "data_src.mp4")
    (ws / "data_dst.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    code = _run(ws, "--until", "detect")
    assert code != 0
    err = capsys.readouterr().err.replace("\n", "")
    assert "extract dst failed:" in err and "data_dst.mp4" in err and "hint:" in err
    steps = _steps(ws)
    assert steps["extract src"]["status"] == "done"
    assert steps["extract dst"]["status"] == "failed" and steps["extract dst"]["hint"]
    assert steps["detect src"]["status"] == "pending"  # stopped at the first failure
    assert json.loads((ws / "run_summary.json").read_text())["status"] == "failed"
    assert "extract dst: FAILED" in (ws / "run.log").read_text()
    assert not list((ws / "data_dst").glob("*.png"))

    _clip(ws / "data_dst.mp4", Side.dst)  # fix the input, run again: the finished step is skipped
    assert _run(ws, "--until", "detect") == 0
    st = _status(ws)
    assert st["extract src"] == "skipped" and st["extract dst"] == st["detect src"] == st["detect dst"] == "done"


def test_no_face_in_footage_fails_with_detector_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from skimage import data

    ws = _ws(tmp_path / "ws", videos=False)
    _clip(ws / "data_src.mp4")
    coffee = data.coffee()[..., ::-1].copy()
    make_clip(coffee, CameraPath(center=((300, 200), (310, 190)), zoom=(0.6, 0.65)), ws / "data_dst.mp4",
              seconds=4 / 12, fps=12)
    assert _run(ws, "--until", "detect") == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert "detect dst failed: no faces found in the 4 frames" in err and "insightface" in err
    assert _steps(ws)["detect dst"]["status"] == "failed"


def test_train_without_target_fails_before_training(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(ws) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert "train failed: no target iteration" in err and "[train] target-iter" in err
    st = _status(ws)
    assert st["pack src"] == "done" and st["train"] == "failed" and st["export"] == "pending"
    assert not (ws / "model").exists() or not any((ws / "model").iterdir())


def test_config_errors_stop_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = _ws(tmp_path / "ws", config="[detect]\nsise = 128\n", videos=False)
    _clip(ws / "data_src.mp4")
    assert _run(ws) == 2
    assert "[detect] has no option 'sise'" in capsys.readouterr().err
    assert not (ws / "data_src").exists()
    assert "options: FAILED" in (ws / "run.log").read_text()
    (ws / "neuface.toml").write_text("[extract]\nfps = 'fast'\n")
    assert _run(ws) == 2
    assert "[extract]" in capsys.readouterr().err
    assert _run(ws, "--from", "train", "--until", "detect") == 2
    assert "comes after --until" in capsys.readouterr().err


def test_videos_given_on_the_command_line(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    src, dst = _clip(media / "a.mp4"), _clip(media / "b.mp4", Side.dst)
    ws = _ws(tmp_path / "ws", videos=False)
    assert _run(ws, "--src", str(src), "--dst", str(dst), "--until", "extract") == 0
    assert _steps(ws)["extract dst"]["counts"]["video"] == "b.mp4"
    assert _run(ws, "--until", "extract") == 0  # no video now: the frames already there are used
    assert _steps(ws)["extract src"]["reason"].startswith(f"no data_src video; keeping the {FRAMES} frames")


def test_config_file_given_with_its_run_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--config FILE` outside the workspace: its stage tables and its [run] table (videos, --until) drive the job."""
    media = tmp_path / "media"
    media.mkdir()
    src, dst = _clip(media / "me.mp4"), _clip(media / "clip.mp4", Side.dst)
    job = tmp_path / "job.toml"
    job.write_text(f'[run]\nsrc = "{src}"\ndst = "{dst}"\nuntil = "extract"\n[extract]\nfps = 6\n')
    ws = tmp_path / "ws"
    assert main(["-w", str(ws), "run", "--config", str(job)]) == 0
    steps = _steps(ws)
    assert steps["extract src"]["counts"] == {"frames": FRAMES // 2, "size": "256x256", "video": "me.mp4"}
    assert steps["extract dst"]["counts"]["video"] == "clip.mp4"
    assert steps["detect src"]["status"] == "not requested"
    assert json.loads((ws / "run_summary.json").read_text())["request"]["config"] == str(job)
    assert main(["-w", str(ws), "run", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err


def test_dfl_faceset_paks_and_xseg_weights(tmp_path: Path, dfl_fixtures: Path, model_fixtures: Path) -> None:
    """A DFL user's workspace: packed facesets and an XSeg model, no videos; masks land inside the paks."""
    ws = _ws(tmp_path / "ws", videos=False)
    for side in Side:
        aligned = ws / f"data_{side.value}" / "aligned"
        aligned.mkdir(parents=True)
        shutil.copyfile(dfl_fixtures / "pak_flat" / "faceset.pak", aligned / "faceset.pak")
    (ws / "model").mkdir()
    shutil.copyfile(model_fixtures / "xseg_256" / "weights" / "XSeg_256.npy", ws / "model" / "XSeg_256.npy")
    assert _run(ws, "--until", "pack") == 0
    steps = _steps(ws)
    assert steps["extract src"]["reason"].startswith("no data_src video; using the 5 aligned faces")
    assert steps["detect dst"]["reason"].startswith("no frames; using the 5 aligned faces")
    assert steps["mask src"]["status"] == steps["mask dst"]["status"] == "done"
    assert steps["mask dst"]["counts"] == {"faces": 5, "masked": 5, "skipped": 0}
    assert steps["pack src"]["reason"].startswith("packed: 5 faces")
    with Faceset.open(ws / "data_src" / "aligned") as fs:
        assert all(rec.meta.get_xseg_mask() is not None for rec in fs)
    assert _run(ws, "--until", "pack") == 0
    assert _steps(ws)["mask src"]["status"] == "skipped"


def test_side_tables_override_shared_options() -> None:
    from neuface.pipeline.params import stage_options

    table = {"size": 128, "jpeg_quality": 80, "dst": {"size": 256}}
    dst = stage_options("detect", table, "dst")
    src = stage_options("detect", table, "src")
    assert (dst.size, dst.jpeg_quality, src.size) == (256, 80, 128)
    assert src.backend == "auto" and src.models is None  # the command's own defaults and types
