"""Ready-made facesets used in place (`neuface run --dst-faceset`), and the live-model workflow end to end."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from neuface.cli import main
from neuface.errors import UsageError
from neuface.faceset import Faceset
from neuface.faceset.external import ZIPREF_NAME, link_faceset, linked_source
from neuface.faceset.meta import FaceMeta
from test_train_loop import _dfl_pretrained_folder


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _blobs(aligned: Path) -> dict[str, bytes]:
    with Faceset.open(aligned) as fs:
        return {r.name: r.load_bytes() for r in fs}


@pytest.fixture
def sources(dfl_fixtures: Path, tmp_path: Path) -> Path:
    """DFL's own faceset.pak, as a file, zipped stored and deflated, and DFL's aligned faces as a folder and zip."""
    root = tmp_path / "downloads"
    root.mkdir()
    pak = dfl_fixtures / "pak_flat" / "faceset.pak"
    shutil.copyfile(pak, root / "faceset.pak")
    # Stored with a long member path and an extra field before it: the pak's offset is not a round number.
    for name, method in (("stored.zip", zipfile.ZIP_STORED), ("deflated.zip", zipfile.ZIP_DEFLATED)):
        with zipfile.ZipFile(root / name, "w", compression=method) as zf:
            zf.writestr("random_dst_face_set/readme.txt", "60,000 faces")
            info = zipfile.ZipInfo("random_dst_face_set/data_dst/aligned/faceset.pak")
            info.compress_type = method
            info.extra = b"\xca\xfe\x04\x00abcd"
            zf.writestr(info, pak.read_bytes())
    shutil.copytree(dfl_fixtures / "aligned", root / "aligned")
    with zipfile.ZipFile(root / "aligned.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted((dfl_fixtures / "aligned").iterdir()):
            zf.write(p, f"aligned/{p.name}")
    return root


@pytest.mark.parametrize("name, how", [("faceset.pak", "symlink"), ("stored.zip", "zip"),
                                       ("deflated.zip", "extracted"), ("aligned", "per-file symlinks"),
                                       ("aligned.zip", "extracted")])
def test_every_kind_of_faceset_reads_the_same_faces_and_the_source_is_never_written(
        sources: Path, dfl_fixtures: Path, tmp_path: Path, name: str, how: str):
    before = _hashes(sources)
    aligned = tmp_path / "ws" / "data_dst" / "aligned"
    res = link_faceset(sources / name, aligned)
    assert res.how == how
    want = _blobs(dfl_fixtures / ("aligned" if name.startswith("aligned") else "pak_flat"))
    assert _blobs(aligned) == want  # byte for byte, wherever they are read from
    if how in ("symlink", "zip", "per-file symlinks"):  # nothing copied: only links or a reference
        assert sum(p.stat().st_size for p in aligned.rglob("*") if p.is_file() and not p.is_symlink()) < 1000
    # A writer (here: new metadata for one face, as mask/sort would write) replaces the link, not its target.
    with Faceset.open(aligned) as fs:
        first = fs[0]
        meta = FaceMeta.from_dict({**first.meta.to_dict(), "eyebrows_expand_mod": 1.5})
        fs.update_metas({first.name: meta})
    with Faceset.open(aligned) as fs:
        assert fs[0].meta.to_dict()["eyebrows_expand_mod"] == 1.5
    assert not (aligned / ZIPREF_NAME).exists()
    assert _hashes(sources) == before
    # A resumed run links the same source again: nothing changes, nothing is refused.
    assert link_faceset(sources / name, aligned).how == how


def test_stored_zip_reads_the_pak_at_its_offset_without_extracting(sources: Path, tmp_path: Path):
    aligned = tmp_path / "aligned"
    link_faceset(sources / "stored.zip", aligned)
    ref = json.loads((aligned / ZIPREF_NAME).read_text())
    with zipfile.ZipFile(sources / "stored.zip") as zf:
        pak = zf.read(ref["member"])
    raw = (sources / "stored.zip").read_bytes()
    assert raw[ref["offset"]:ref["offset"] + ref["size"]] == pak and ref["offset"] % 4096 != 0
    assert [p.name for p in aligned.iterdir()] == [ZIPREF_NAME]
    assert linked_source(aligned)["how"] == "zip"


def test_faces_already_there_are_never_replaced(sources: Path, dfl_fixtures: Path, tmp_path: Path):
    aligned = tmp_path / "aligned"
    shutil.copytree(dfl_fixtures / "aligned", aligned)
    before = _hashes(aligned)
    with pytest.raises(UsageError, match="already holds faces"):
        link_faceset(sources / "stored.zip", aligned)
    assert _hashes(aligned) == before
    with pytest.raises(UsageError, match="no such faceset"):
        link_faceset(sources / "missing.zip", tmp_path / "other")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UsageError, match="not a faceset.pak"):
        link_faceset(tmp_path / "notes.txt", tmp_path / "other")


def test_live_model_workflow_in_one_command(sources: Path, model_fixtures: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]):
    """`neuface run --src-faceset ... --dst-faceset random_dst_face_set.zip --pretrained pretrained_model.zip`:
    no video, nothing copied or changed outside the workspace, training from the pretrained weights at 0."""
    _dfl_pretrained_folder(model_fixtures, tmp_path / "pretrained")
    pretrained = tmp_path / "downloads" / "pretrained_model.zip"
    with zipfile.ZipFile(pretrained, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted((tmp_path / "pretrained").iterdir()):
            zf.write(p, f"model/{p.name}")
    before = _hashes(sources)
    ws = tmp_path / "ws"
    (ws).mkdir()
    (ws / "neuface.toml").write_text("[train]\nworkers = 0\nseed = 3\n")
    args = ["-w", str(ws), "--device", "cpu", "--precision", "fp32", "run", "--src-faceset", str(sources / "aligned"),
            "--dst-faceset", str(sources / "stored.zip"), "--pretrained", str(pretrained), "--target-iter", "2"]
    assert main(args) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err
    summary = json.loads((ws / "run_summary.json").read_text())
    steps = {s["step"]: s for s in summary["steps"]}
    for side in ("src", "dst"):
        for stage in ("extract", "detect", "sort", "mask", "pack"):
            assert steps[f"{stage} {side}"]["status"] in ("skipped", "off"), (stage, side)
        assert "ready-made faceset" in steps[f"extract {side}"]["reason"]
    assert steps["train"]["status"] == "done" and steps["export"]["status"] == "done"
    data = json.loads(json.dumps(steps["train"]["counts"]))
    assert data["iteration"] == 2 and data["from_iteration"] == 0
    assert "read in place from the zip" in out
    assert _hashes(sources) == before
    assert (ws / "model" / "pretrained_SAEHD_model.dfm").is_file()


def test_merge_after_run_takes_the_dst_video_that_run_used(real_media: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]):
    """`neuface run --src A.mp4 --dst B.mp4` then `neuface merge`: merge takes B.mp4 and says so."""
    from neuface.extract.frames import resolve_video
    from neuface.workspace import Side, Workspace

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "neuface.toml").write_text("[extract]\nfps = 2\n")
    src, dst = real_media / "talking_head_d0.mp4", real_media / "talking_head_tpsmm.mp4"
    assert main(["-w", str(ws), "run", "--src", str(src), "--dst", str(dst), "--until", "extract"]) == 0
    capsys.readouterr()
    assert resolve_video(Workspace.at(ws), Side.dst, None) == dst.resolve()
    assert "the dst video of the last `neuface run`" in " ".join(capsys.readouterr().err.split())
    # The merge command gets past the video (no model here is the next thing it reports).
    assert main(["-w", str(ws), "merge"]) != 0
    err = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "talking_head_tpsmm.mp4" in err and "no VIDEO given and no data_dst" not in err


def test_a_damaged_zip_is_a_clear_error_and_leaves_aligned_empty(sources: Path, tmp_path: Path):
    """Corrupt bytes in the middle of the deflated pak: the CRC (or inflate) check fails mid-extraction; the
    staging folder goes away, aligned/ holds nothing, and a rerun is not refused as 'already holds faces'."""
    damaged = tmp_path / "damaged.zip"
    raw = bytearray((sources / "deflated.zip").read_bytes())
    with zipfile.ZipFile(sources / "deflated.zip") as zf:
        info = zf.getinfo("random_dst_face_set/data_dst/aligned/faceset.pak")
    middle = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    raw[middle:middle + 64] = bytes(64)
    damaged.write_bytes(bytes(raw))
    aligned = tmp_path / "ws" / "data_dst" / "aligned"
    with pytest.raises(UsageError, match=r"damaged\.zip: damaged zip"):
        link_faceset(damaged, aligned)
    assert not aligned.exists() or not any(aligned.iterdir())
    assert not [p for p in aligned.parent.iterdir() if p.name.startswith(".faceset-")]
    assert linked_source(aligned) is None
    assert link_faceset(sources / "deflated.zip", aligned).how == "extracted"  # the rerun works
