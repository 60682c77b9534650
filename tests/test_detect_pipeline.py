"""`neuface detect` end to end on real frames: DFL metadata, odd inputs, safety (--force, redo), CLI."""

from __future__ import annotations

import pickletools
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from neuface.cli import main
from neuface.detect.identity import IDENTITY_KEY, IDENTITY_MODEL_KEY
from neuface.detect.options import DetectConfig
from neuface.detect.pipeline import run_detect
from neuface.dfl.align import get_transform_mat, transform_points
from neuface.errors import UsageError
from neuface.faceset import Faceset, dfljpg
from neuface.faceset.jpeg import metadata_payload, walk
from neuface.workspace import Side, Workspace

DFL_KEYS = ["face_type", "landmarks", "source_filename", "source_rect", "source_landmarks", "image_to_face_mat"]
ALLOWED_GLOBALS = {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}


def _pickle_globals(payload: bytes) -> set[str]:
    found, strings = set(), []
    for op, arg, _ in pickletools.genops(payload):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            found.add(f"{strings[-2]} {strings[-1]}")
        elif op.name == "GLOBAL":
            found.add(arg)
    return found


def _workspace(tmp_path: Path, side: Side, frames: dict[str, Path | bytes]) -> Workspace:
    ws = Workspace.at(tmp_path / "ws")
    folder = ws.frames_dir(side)
    folder.mkdir(parents=True)
    for name, src in frames.items():
        if isinstance(src, bytes):
            (folder / name).write_bytes(src)
        else:
            shutil.copyfile(src, folder / name)
    return ws


@pytest.fixture(scope="module")
def astronaut(real_media) -> np.ndarray:
    # the top 300 rows: the face without the mission patch (which HOG scores as a weak face)
    return cv2.imread(str(real_media / "group_photos" / "astronaut_public_domain.png"))[:300]


def test_detect_writes_dfl_faces_and_handles_odd_frames(tmp_path, dfl_fixtures, real_media, astronaut):
    ws = _workspace(tmp_path, Side.src, {
        "t1.jpg": dfl_fixtures / "frames" / "t1.jpg",
        "flower.png": real_media / "no_faces" / "3.png",
        "broken.png": b"\x89PNG\r\n\x1a\n not really a png",
        "empty.jpg": b"",
    })
    folder = ws.frames_dir(Side.src)
    cv2.imwrite(str(folder / "grey.png"), cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(folder / "deep.png"), astronaut.astype(np.uint16) * 257)
    Image.fromarray(astronaut[..., ::-1]).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    cv2.imwrite(str(folder / "odd.png"), astronaut[:299, :509])
    cv2.imwrite(str(folder / "t1.png"), astronaut)  # same stem as t1.jpg: skipped, as DFL does

    result = run_detect(ws, Side.src, DetectConfig(backend="dlib", workers=1))
    aligned = ws.aligned_dir(Side.src)
    names = sorted(p.name for p in aligned.iterdir())
    assert [n for n in names if n.startswith("t1_")] == [f"t1_{i}.jpg" for i in range(6)]
    for stem in ("grey", "rgba", "deep", "cmyk", "odd"):
        assert f"{stem}_0.jpg" in names, stem
    assert sorted(e[0] for e in result.unreadable) == ["broken.png", "empty.jpg"]
    assert result.no_face == ["flower.png"]
    assert result.frames == 9 and result.faces == len(names) == 11
    assert not ws.aligned_debug_dir(Side.src).exists()  # debug is off by default for src
    assert not list(ws.frames_dir(Side.src).glob(".detect-*"))  # no staging folder left behind

    # Full DFL metadata, in DFL's key order, pickled with only numpy-1 globals.
    sizes = []
    for name in names:
        path = aligned / name
        data = path.read_bytes()
        payload = metadata_payload(data, walk(data, name))
        assert payload[:2] in (b"\x80\x03", b"\x80\x04")
        assert _pickle_globals(payload) <= ALLOWED_GLOBALS
        meta = dfljpg.read_meta(path)
        d = meta.to_dict()
        assert list(d)[:6] == DFL_KEYS
        assert d["face_type"] == "whole_face" and isinstance(d["landmarks"], list) and len(d["landmarks"]) == 68
        assert isinstance(d["source_rect"], np.ndarray) and d["source_rect"].dtype.kind == "i"
        assert d["source_filename"] == name.rsplit("_", 1)[0] + Path(d["source_filename"]).suffix
        src = np.array(d["source_landmarks"])
        mat = get_transform_mat(src, 512, "whole_face")
        assert np.array_equal(d["image_to_face_mat"], mat)
        np.testing.assert_allclose(np.array(d["landmarks"]), transform_points(src, mat), atol=1e-9)
        emb = meta.extra[IDENTITY_KEY]
        assert emb.dtype == np.float32 and emb.shape == (128,)
        assert meta.extra[IDENTITY_MODEL_KEY] == "dlib_resnet_v1"
        img = cv2.imread(str(path))
        assert img.shape == (512, 512, 3)
        sizes.append(cv2.imread(str(path)).mean())
    # t1_0 is the largest face (the man in the middle), as in DFL's own t1_0.jpg
    ours = dfljpg.read_meta(aligned / "t1_0.jpg")
    dfl = dfljpg.read_meta(dfl_fixtures / "aligned" / "t1_0.jpg")
    assert np.abs(ours.source_landmarks - dfl.source_landmarks).mean() < 8
    # the grey/RGBA/16-bit/CMYK versions of one photo give (nearly) the same face
    ref = dfljpg.read_meta(aligned / "rgba_0.jpg").source_landmarks
    for stem in ("grey", "deep", "cmyk"):
        assert np.abs(dfljpg.read_meta(aligned / f"{stem}_0.jpg").source_landmarks - ref).mean() < 3

    fs = Faceset.open(aligned)
    assert len(fs) == 11 and not fs.is_pak
    assert all(rec.meta.source_filename for rec in fs)


def test_force_moves_old_faces_to_backup_and_parallel_run(tmp_path, dfl_fixtures, real_media):
    ws = _workspace(tmp_path, Side.dst, {"t1.jpg": dfl_fixtures / "frames" / "t1.jpg",
                                         "a.png": real_media / "group_photos" / "astronaut_public_domain.png",
                                         "b.png": real_media / "no_faces" / "5.png"})
    aligned = ws.aligned_dir(Side.dst)
    aligned.mkdir(parents=True)
    (aligned / "mine_0.jpg").write_bytes(b"the user's sorted face")
    with pytest.raises(UsageError, match="--force"):
        run_detect(ws, Side.dst, DetectConfig(backend="dlib"))
    assert (aligned / "mine_0.jpg").read_bytes() == b"the user's sorted face"

    result = run_detect(ws, Side.dst, DetectConfig(backend="dlib", workers=2, identity=False), force=True)
    assert result.backup_dir is not None
    assert (result.backup_dir / "aligned" / "mine_0.jpg").read_bytes() == b"the user's sorted face"
    names = sorted(p.name for p in aligned.iterdir())
    assert "mine_0.jpg" not in names and "a_0.jpg" in names and len(names) == 8
    assert IDENTITY_KEY not in dfljpg.read_meta(aligned / "a_0.jpg").extra
    debug = ws.aligned_debug_dir(Side.dst)  # default on for dst
    assert sorted(p.name for p in debug.iterdir()) == ["a.jpg", "b.jpg", "t1.jpg"]


def test_redo_deleted_debug_replaces_only_those_frames(tmp_path, dfl_fixtures, real_media):
    ws = _workspace(tmp_path, Side.dst, {"t1.jpg": dfl_fixtures / "frames" / "t1.jpg",
                                         "flower.png": real_media / "no_faces" / "3.png"})
    cfg = DetectConfig(backend="dlib", workers=1, identity=False, max_faces=2)
    with pytest.raises(UsageError, match="debug"):
        run_detect(ws, Side.dst, cfg, redo_deleted_debug=True)
    run_detect(ws, Side.dst, cfg)
    aligned, debug = ws.aligned_dir(Side.dst), ws.aligned_debug_dir(Side.dst)
    assert sorted(p.name for p in aligned.iterdir()) == ["t1_0.jpg", "t1_1.jpg"]
    before = (aligned / "t1_0.jpg").read_bytes()

    nothing = run_detect(ws, Side.dst, cfg, redo_deleted_debug=True)
    assert nothing.frames == 0

    (debug / "t1.jpg").unlink()
    redo = run_detect(ws, Side.dst, DetectConfig(backend="dlib", workers=1, identity=False, max_faces=3),
                      redo_deleted_debug=True)
    assert redo.frames == 1 and redo.faces == 3
    assert sorted(p.name for p in aligned.iterdir()) == ["t1_0.jpg", "t1_1.jpg", "t1_2.jpg"]
    assert (redo.backup_dir / "aligned" / "t1_0.jpg").read_bytes() == before
    assert (debug / "t1.jpg").is_file() and (debug / "flower.jpg").is_file()


def _luma_dc_quantizer(jpeg: bytes) -> int:
    """First value of the first DQT table (8-bit): libjpeg's 16 scaled by the quality factor."""
    i = jpeg.index(b"\xff\xdb")
    assert jpeg[i + 4] == 0  # 8-bit precision, table 0 (luminance)
    return jpeg[i + 5]


def test_min_face_size_and_jpeg_quality(tmp_path, dfl_fixtures):
    """t1's faces measure 87, 103, 103, 103, 104 and 124 px (box's shorter side): --min-face-size 95 keeps 5."""
    ws = _workspace(tmp_path, Side.src, {"t1.jpg": dfl_fixtures / "frames" / "t1.jpg"})
    result = run_detect(ws, Side.src, DetectConfig(backend="dlib", workers=1, identity=False, size=256,
                                                   min_face_size=95, jpeg_quality=60))
    assert result.faces == 5
    for path in sorted(ws.aligned_dir(Side.src).iterdir()):
        l, t, r, b = dfljpg.read_meta(path).source_rect
        assert min(abs(r - l), abs(b - t)) >= 95
        assert _luma_dc_quantizer(path.read_bytes()) == 13  # quality 60: 16 * (200 - 120) / 100; 90 gives 3


def test_huge_frame(tmp_path, dfl_fixtures):
    frame = cv2.imread(str(dfl_fixtures / "frames" / "t1.jpg"))
    big = cv2.resize(frame, (7680, 5316), interpolation=cv2.INTER_LINEAR)
    ws = Workspace.at(tmp_path / "ws")
    ws.frames_dir(Side.src).mkdir(parents=True)
    cv2.imwrite(str(ws.frames_dir(Side.src) / "big.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 80])
    result = run_detect(ws, Side.src, DetectConfig(backend="dlib", workers=1, identity=False, max_faces=1,
                                                   face_type="f", size=256))
    assert result.faces == 1
    meta = dfljpg.read_meta(ws.aligned_dir(Side.src) / "big_0.jpg")
    assert meta.face_type == "full_face"
    # detected on a downscaled copy, landmarks at full resolution: they match the normal-size frame's x6
    from neuface.detect.backends import DetectOptions, create_backend

    faces = create_backend("dlib", DetectOptions(with_embeddings=False)).detect(frame[:886, :1280])
    err = min(np.abs(meta.source_landmarks / 6 - f.landmarks).mean() for f in faces)
    assert err < 2.0


def test_cli_detect_and_pack(tmp_path, dfl_fixtures, capsys):
    from neuface.pack.packer import pack_faceset

    ws = _workspace(tmp_path, Side.src, {"t1.jpg": dfl_fixtures / "frames" / "t1.jpg"})
    code = main(["-w", str(ws.root), "detect", "src", "--backend", "dlib", "--face-type", "full_face",
                 "--size", "256", "--max-faces", "3", "--workers", "1", "--no-identity", "--debug"])
    assert code == 0
    aligned = ws.aligned_dir(Side.src)
    assert len(list(aligned.glob("*.jpg"))) == 3
    assert (ws.aligned_debug_dir(Side.src) / "t1.jpg").is_file()
    assert code == 0 and main(["-w", str(ws.root), "detect", "src", "--backend", "dlib"]) == 2
    assert "--force" in capsys.readouterr().err
    pack_faceset(aligned)
    fs = Faceset.open(aligned)
    assert fs.is_pak and len(fs) == 3
    for rec in fs:
        assert rec.meta.face_type == "full_face" and rec.load_image().shape == (256, 256, 3)


def test_cli_extract_detect_pack_on_a_clip(tmp_path, real_media):
    """The issue's "done when": `extract src CLIP --fps 5 && detect src` (default options: worker pool,
    identity), then `pack src`: a pak the faceset reader opens, one DFL face per frame."""
    ws = tmp_path / "ws"
    clip = real_media / "talking_head_d0.mp4"  # 78 frames at 25 fps -> 16 frames at 5 fps
    assert main(["-q", "-w", str(ws), "extract", "src", str(clip), "--fps", "5"]) == 0
    frames = sorted((ws / "data_src").glob("*.png"))
    assert len(frames) == 16
    assert main(["-q", "-w", str(ws), "detect", "src"]) == 0
    aligned = ws / "data_src" / "aligned"
    names = sorted(p.name for p in aligned.iterdir())
    assert names == [f"{p.stem}_0.jpg" for p in frames]
    assert main(["-q", "-w", str(ws), "pack", "src"]) == 0
    fs = Faceset.open(aligned)
    assert fs.is_pak and fs.names() == names
    for rec in fs:
        d = rec.meta.to_dict()
        assert list(d)[:6] == DFL_KEYS and d["face_type"] == "whole_face"
        assert d["source_filename"] == rec.name.rsplit("_", 1)[0] + ".png"
        assert rec.meta.extra[IDENTITY_KEY].shape == (128,)
        assert rec.load_image().shape == (512, 512, 3)


@pytest.mark.parametrize("args,message", [
    (["--face-type", "mark_only"], "--face-type"),
    (["--face-type", "zz"], "face type"),
    (["--size", "16"], "--size"),
    (["--backend", "mtcnn"], "--backend"),
])
def test_cli_bad_options(tmp_path, dfl_fixtures, capsys, args, message):
    ws = _workspace(tmp_path, Side.src, {"t1.jpg": dfl_fixtures / "frames" / "t1.jpg"})
    assert main(["-w", str(ws.root), "detect", "src", *args]) == 2
    assert message in capsys.readouterr().err
    assert not ws.aligned_dir(Side.src).exists()


def test_empty_input_is_a_clear_error(tmp_path, capsys):
    ws = Workspace.at(tmp_path / "ws")
    ws.frames_dir(Side.dst).mkdir(parents=True)
    assert main(["-w", str(ws.root), "detect", "dst"]) == 2
    err = capsys.readouterr().err
    assert "no frames" in err and "neuface extract dst" in err
