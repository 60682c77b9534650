"""Aligned-face JPEG/PNG metadata: exact round trips, DFL-readable writes, safe refusal of bad files."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from neuface.dfl.facetype import FaceType
from neuface.dfl.safe_pickle import pickle_protocol
from neuface.errors import FacesetFormatError, UsageError
from neuface.faceset import FaceMeta, dfljpg, jpeg, png

ALIGNED = ["Tom_Hanks_54745_0.jpg", "t1_0.jpg", "t1_1.jpg", "t1_2.jpg", "t1_3.jpg"]
PWNED = Path("/tmp/neuface_faceset_pwned")


def _app15_payload(data: bytes) -> bytes:
    return jpeg.metadata_payload(data, jpeg.walk(data, "x"))


def _tail(data: bytes) -> bytes:
    return data[jpeg.walk(data, "x").tail_offset:]


def _meta(**kw) -> FaceMeta:
    rng = np.random.default_rng(1)
    base = dict(face_type="whole_face", landmarks=rng.random((68, 2), dtype=np.float32) * 256,
                source_filename="00001.png", source_rect=np.array([10, 20, 110, 140]),
                source_landmarks=rng.random((68, 2)) * 1000, image_to_face_mat=rng.random((2, 3)))
    base.update(kw)
    return FaceMeta(**base)


def _face_image(dfl_fixtures: Path, size: int = 256) -> np.ndarray:
    img = cv2.imread(str(dfl_fixtures / "aligned" / "t1_3.jpg"))
    return cv2.resize(img, (size, size))


@pytest.mark.parametrize("name", ALIGNED)
def test_unchanged_rewrite_is_byte_identical(dfl_fixtures: Path, copy_fixture, name: str) -> None:
    path = copy_fixture(dfl_fixtures / "aligned" / name)
    before = path.read_bytes()
    dfljpg.update_meta(path, dfljpg.read_meta(path))
    assert path.read_bytes() == before


def test_update_changes_only_the_metadata_segment(dfl_fixtures: Path, copy_fixture) -> None:
    path = copy_fixture(dfl_fixtures / "aligned" / "t1_2.jpg")
    before = path.read_bytes()
    meta = dfljpg.read_meta(path)
    meta.landmarks = meta.landmarks + 1.5
    meta.set_xseg_mask(None)
    meta.extra["neuface_identity"] = np.arange(128, dtype=np.float32)
    dfljpg.update_meta(path, meta)
    after = path.read_bytes()
    assert _tail(after) == _tail(before)  # entropy-coded image untouched
    payload = _app15_payload(after)
    assert pickle_protocol(payload) == 3  # the file's own protocol is kept
    assert b"numpy._core" not in payload and b"numpy.core.multiarray" in payload
    back = dfljpg.read_meta(path)
    np.testing.assert_array_equal(back.landmarks, meta.landmarks)
    assert back.xseg_mask is None and "xseg_mask" not in back.to_dict()
    np.testing.assert_array_equal(back.extra["neuface_identity"], np.arange(128, dtype=np.float32))
    assert list(back.to_dict())[:6] == ["face_type", "landmarks", "source_filename", "source_rect",
                                        "source_landmarks", "image_to_face_mat"]
    assert cv2.imdecode(np.frombuffer(after, np.uint8), cv2.IMREAD_COLOR).shape == (512, 512, 3)


def test_protocol_4_file_stays_protocol_4(dfl_fixtures: Path, tmp_path: Path) -> None:
    data = (dfl_fixtures / "aligned" / "t1_3.jpg").read_bytes()
    meta = dfljpg.parse_bytes(data, "t1_3").meta
    path = tmp_path / "p4.jpg"
    path.write_bytes(dfljpg.with_meta(data, meta, "p4", protocol=4))
    meta.source_filename = "other.png"
    dfljpg.update_meta(path, meta)
    assert pickle_protocol(_app15_payload(path.read_bytes())) == 4
    assert dfljpg.read_meta(path).source_filename == "other.png"


def test_reads_numpy2_pickles_and_rewrites_them_for_numpy1(dfl_fixtures: Path, tmp_path: Path) -> None:
    data = (dfl_fixtures / "aligned" / "t1_0.jpg").read_bytes()
    raw = dfljpg.parse_bytes(data, "t1_0").raw
    modern = pickle.dumps(raw, protocol=4)  # numpy 2 writes numpy._core.multiarray
    assert b"numpy._core" in modern
    layout = jpeg.walk(data, "t1_0")
    path = tmp_path / "np2.jpg"
    path.write_bytes(jpeg.splice_app15(data, layout, modern, "np2"))
    meta = dfljpg.read_meta(path)
    np.testing.assert_array_equal(meta.source_rect, raw["source_rect"])
    dfljpg.update_meta(path, meta)
    assert b"numpy._core" not in _app15_payload(path.read_bytes())


def test_new_jpeg_is_what_dfl_reads(dfl_fixtures: Path, tmp_path: Path) -> None:
    img = _face_image(dfl_fixtures)
    meta = _meta()
    meta.set_xseg_mask(np.ones((256, 256), np.float32))
    path = tmp_path / "00001_0.jpg"
    dfljpg.write_aligned_jpeg(path, img, meta, quality=90)
    data = path.read_bytes()
    layout = jpeg.walk(data, "new")
    names = [s.name for s in layout.segments]
    assert names[:3] == ["SOI", "APP0", "APP15"] and "DRI" not in names
    assert data[6:11] == b"JFIF\x00"
    payload = _app15_payload(data)
    assert pickle_protocol(payload) == 3 and b"numpy._core" not in payload
    d = pickle.loads(payload)  # plain pickle reads it too (trusted: we just wrote it)
    assert list(d)[:6] == ["face_type", "landmarks", "source_filename", "source_rect", "source_landmarks",
                           "image_to_face_mat"]
    assert isinstance(d["landmarks"], list) and isinstance(d["landmarks"][0][0], float)
    assert isinstance(d["source_rect"], np.ndarray) and d["source_rect"].dtype.kind == "i"
    assert d["xseg_mask"].dtype == np.uint8 and d["xseg_mask"].shape[1] == 1
    back = dfljpg.read_meta(path)
    np.testing.assert_array_equal(back.landmarks, meta.landmarks)
    assert back.get_xseg_mask().min() == 1.0
    decoded = cv2.imread(str(path))
    assert decoded.shape == img.shape and np.abs(decoded.astype(int) - img).mean() < 4


def test_none_removes_keys_and_unknown_keys_survive(dfl_fixtures: Path) -> None:
    raw = dfljpg.read_parsed(dfl_fixtures / "aligned" / "t1_2.jpg").raw
    raw = {**raw, "pitch_yaw_roll": (0.1, 0.2, 0.3), "relighted": False}
    meta = FaceMeta.from_dict(raw)
    assert meta.extra == {"pitch_yaw_roll": (0.1, 0.2, 0.3), "relighted": False}
    assert meta.to_dict()["pitch_yaw_roll"] is raw["pitch_yaw_roll"]
    meta.seg_ie_polys = None
    meta.source_rect = None
    out = meta.to_dict()
    assert "seg_ie_polys" not in out and "source_rect" not in out and "relighted" in out


def test_polys_include_first(dfl_fixtures: Path) -> None:
    meta = dfljpg.read_meta(dfl_fixtures / "aligned" / "t1_1.jpg")
    polys = meta.get_polys()
    assert [t for t, _ in polys] == [1, 0] and polys[0][1].shape == (27, 2) and polys[1][1].shape == (12, 2)
    meta.set_polys([(0, polys[1][1]), (1, polys[0][1] + 1)])  # exclude first in the input
    stored = meta.to_dict()["seg_ie_polys"]["polys"]
    assert [p["type"] for p in stored] == [1, 0] and stored[0]["pts"].dtype == np.float32
    meta.set_polys([])
    assert "seg_ie_polys" not in meta.to_dict()


def test_xseg_mask_encoding_like_dfl(dfl_fixtures: Path) -> None:
    meta = dfljpg.read_meta(dfl_fixtures / "aligned" / "t1_0.jpg")
    original = meta.xseg_mask
    meta.set_xseg_mask(meta.get_xseg_mask())
    assert meta.xseg_mask == original  # DFL's PNG bytes reproduced
    noise = np.random.default_rng(0).random((256, 256)).astype(np.float32)
    meta.set_xseg_mask(noise)  # incompressible: PNG > 50,000 bytes, so JPEG fallback
    assert meta.xseg_mask[:3] == b"\xff\xd8\xff" and len(meta.xseg_mask) <= 50_000
    assert np.abs(meta.get_xseg_mask()[..., 0] - noise).mean() < 0.1
    meta.set_xseg_mask(np.zeros((256, 256, 1), bool))
    assert meta.xseg_mask[:4] == b"\x89PNG" and meta.get_xseg_mask().max() == 0


def test_oversized_metadata_is_refused_and_file_untouched(dfl_fixtures: Path, copy_fixture) -> None:
    path = copy_fixture(dfl_fixtures / "aligned" / "t1_3.jpg")
    before = path.read_bytes()
    meta = dfljpg.read_meta(path)
    meta.extra["big"] = np.random.default_rng(0).random(9000)  # 72 KB
    with pytest.raises(FacesetFormatError, match="65533"):
        dfljpg.update_meta(path, meta)
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


def test_unsafe_pickle_in_jpeg_is_refused_without_running(dfl_fixtures: Path, tmp_path: Path) -> None:
    PWNED.unlink(missing_ok=True)
    data = (dfl_fixtures / "aligned" / "t1_3.jpg").read_bytes()
    evil = pickle.dumps({"face_type": "whole_face", "landmarks": [[0.0, 0.0]] * 68, "x": _Evil()}, protocol=3)
    path = tmp_path / "evil.jpg"
    path.write_bytes(jpeg.splice_app15(data, jpeg.walk(data, "x"), evil, "x"))
    with pytest.raises(FacesetFormatError) as info:
        dfljpg.read_meta(path)
    assert str(path) in str(info.value) and "system" in str(info.value)
    assert not PWNED.exists()


@pytest.mark.parametrize("content, message", [
    (b"", "not a JPEG"),
    (b"hello world, not an image", "not a JPEG"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated"),
])
def test_non_images_name_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(FacesetFormatError, match=message) as info:
        dfljpg.read_meta(path)
    assert str(path) in str(info.value)


def test_plain_jpeg_without_metadata(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".jpg", np.zeros((32, 32, 3), np.uint8))
    path = tmp_path / "plain.jpg"
    path.write_bytes(buf.tobytes())
    with pytest.raises(FacesetFormatError, match="no DFL metadata"):
        dfljpg.read_meta(path)


def test_jpeg_with_restart_markers_is_read(dfl_fixtures: Path, tmp_path: Path) -> None:
    img = _face_image(dfl_fixtures, 128)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90, cv2.IMWRITE_JPEG_RST_INTERVAL, 4])
    data = buf.tobytes()
    assert "DRI" in [s.name for s in jpeg.walk(data, "dri").segments]
    out = dfljpg.with_meta(data, _meta(), "dri")
    path = tmp_path / "dri.jpg"
    path.write_bytes(out)
    assert dfljpg.read_meta(path).source_filename == "00001.png"
    assert _tail(out) == _tail(data)


def test_png_fcwp_round_trip(dfl_fixtures: Path, tmp_path: Path) -> None:
    img = _face_image(dfl_fixtures, 128)
    meta = _meta()
    path = tmp_path / "face.png"
    dfljpg.write_aligned_jpeg(path, img, meta)  # a .png path writes the lossless PNG
    data = path.read_bytes()
    chunks = png.walk(data, "face.png")
    assert [c.type for c in chunks][-2:] == [b"fcWp", b"IEND"]
    np.testing.assert_array_equal(cv2.imread(str(path)), img)  # lossless
    back = dfljpg.read_parsed(path)
    assert back.kind == "png" and back.shape == (128, 128, 3) and back.protocol == 3
    np.testing.assert_array_equal(back.meta.landmarks, meta.landmarks)
    back.meta.face_type = "head"
    dfljpg.update_meta(path, back.meta)
    assert dfljpg.read_meta(path).face_type == "head"
    new = path.read_bytes()
    assert [c.type for c in png.walk(new, "x")].count(b"fcWp") == 1
    corrupt = bytearray(new)
    start, _ = [c for c in png.walk(new, "x") if c.type == b"fcWp"][0].data_range
    corrupt[start + 5] ^= 0xFF
    path.write_bytes(bytes(corrupt))
    with pytest.raises(FacesetFormatError, match="CRC"):
        dfljpg.read_meta(path)


def test_facetype_names_and_values() -> None:
    assert [int(t) for t in FaceType] == [0, 1, 2, 3, 4, 10, 20, 100]
    assert FaceType.from_string("whole_face") is FaceType.WHOLE_FACE
    assert FaceType.from_string("WF") is FaceType.WHOLE_FACE
    assert FaceType.from_string("mf").dfl_name == "midfull_face"
    assert FaceType.HEAD.short_name == "head" and FaceType.FULL.short_name == "f"
    with pytest.raises(UsageError, match="unknown face type"):
        FaceType.from_string("huge_face")
    assert _meta(face_type="wf").to_dict()["face_type"] == "whole_face"
