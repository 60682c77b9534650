"""faceset.pak: DFL parity (byte for byte), the offset quirk, lazy memory-mapped open, safe refusal, updates."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from neuface.dfl.safe_pickle import dumps_compat
from neuface.errors import FacesetFormatError, UsageError
from neuface.faceset import Faceset, dfljpg, ensure_not_mixed
from neuface.faceset.pak import PakEntry, PakReader, encode_configs, sample_config, write_pak
from neuface.pack import pack_faceset, unpack_faceset

PWNED = Path("/tmp/neuface_pak_pwned")


def _flat(dfl_fixtures: Path, copy_fixture) -> Path:
    return copy_fixture(dfl_fixtures / "aligned", "aligned")


def test_our_pak_of_the_fixtures_is_dfls_pak_byte_for_byte(dfl_fixtures: Path, copy_fixture) -> None:
    folder = _flat(dfl_fixtures, copy_fixture)
    pack_faceset(folder, keep=True)
    assert (folder / "faceset.pak").read_bytes() == (dfl_fixtures / "pak_flat" / "faceset.pak").read_bytes()


def test_offset_table_quirk(dfl_fixtures: Path) -> None:
    path = dfl_fixtures / "pak_flat" / "faceset.pak"
    data = path.read_bytes()
    n = struct.unpack_from("<Q", data, 8)[0]
    table = struct.unpack_from("<6Q", data, 16 + n)
    assert table == (0, 12205, 51791, 91056, 127182, 173140) and table[-1] == len(data)
    with PakReader(path) as reader:
        assert reader.entry_size(4) == 34536  # not DFL's over-long 45958


def test_reader_accepts_a_relative_last_offset(dfl_fixtures: Path, tmp_path: Path) -> None:
    data = bytearray((dfl_fixtures / "pak_flat" / "faceset.pak").read_bytes())
    n = struct.unpack_from("<Q", data, 8)[0]
    struct.pack_into("<Q", data, 16 + n + 8 * 5, 173140 - 11422)  # a writer without DFL's quirk
    (tmp_path / "faceset.pak").write_bytes(bytes(data))
    with PakReader(tmp_path / "faceset.pak") as reader:
        assert len(reader) == 5 and reader.entry_size(4) == 34536


def test_open_does_not_unpickle_the_sample_table(dfl_fixtures: Path, tmp_path: Path) -> None:
    data = bytearray((dfl_fixtures / "pak_flat" / "faceset.pak").read_bytes())
    data[40:60] = b"\x00" * 20  # garbage inside the sample-table pickle
    (tmp_path / "faceset.pak").write_bytes(bytes(data))
    fs = Faceset.open(tmp_path)
    assert fs.is_pak and len(fs) == 5
    assert fs.reader.blob(3)[:3] == b"\xff\xd8\xff"  # a face is a slice, no table needed
    with pytest.raises(FacesetFormatError, match="sample table"):
        fs[0]
    fs.close()


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


def _evil_pak(dfl_fixtures: Path, folder: Path) -> Path:
    with PakReader(dfl_fixtures / "pak_flat" / "faceset.pak") as reader:
        configs = [dict(c) for c in reader.configs()]
        blobs = [reader.blob(i) for i in range(len(reader))]
    configs[2]["filename"] = _Evil()
    table = dumps_compat(configs, protocol=4)  # DFL names for the enums, posix.system for _Evil
    folder.mkdir(parents=True, exist_ok=True)
    out = bytearray(struct.pack("<QQ", 1, len(table)) + table)
    data_start = len(out) + 8 * (len(blobs) + 1)
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    out += struct.pack(f"<{len(blobs) + 1}Q", *offsets[:-1], data_start + offsets[-1])
    for b in blobs:
        out += b
    (folder / "faceset.pak").write_bytes(bytes(out))
    return folder / "faceset.pak"


def test_crafted_pak_naming_os_system_is_refused(dfl_fixtures: Path, tmp_path: Path) -> None:
    PWNED.unlink(missing_ok=True)
    pak = _evil_pak(dfl_fixtures, tmp_path / "aligned")
    with pytest.raises(FacesetFormatError, match="system") as info:
        Faceset.open(pak.parent).names()
    assert str(pak) in str(info.value)
    with pytest.raises(FacesetFormatError):
        unpack_faceset(pak.parent)
    assert not PWNED.exists()
    assert pak.exists() and [p.name for p in pak.parent.iterdir()] == ["faceset.pak"]


@pytest.mark.parametrize("cut", [10, 30, 11400, 100000, 173139])
def test_truncated_pak_is_a_format_error(dfl_fixtures: Path, tmp_path: Path, cut: int) -> None:
    (tmp_path / "faceset.pak").write_bytes((dfl_fixtures / "pak_flat" / "faceset.pak").read_bytes()[:cut])
    with pytest.raises(FacesetFormatError, match="faceset.pak"):
        Faceset.open(tmp_path).names()


def test_unknown_version_is_refused(dfl_fixtures: Path, tmp_path: Path) -> None:
    data = bytearray((dfl_fixtures / "pak_flat" / "faceset.pak").read_bytes())
    data[0] = 2
    (tmp_path / "faceset.pak").write_bytes(bytes(data))
    with pytest.raises(FacesetFormatError, match="version 2"):
        PakReader(tmp_path / "faceset.pak")


def test_path_traversal_names_are_refused(dfl_fixtures: Path, tmp_path: Path) -> None:
    with PakReader(dfl_fixtures / "pak_flat" / "faceset.pak") as reader:
        entries = [PakEntry(dict(c), reader.entry_size(i), lambda i=i, b=reader.blob(i): b)
                   for i, c in enumerate(reader.configs())]
    entries[0].config["person_name"] = ".."
    folder = tmp_path / "a" / "aligned"
    write_pak(folder / "faceset.pak", entries, verify=False)  # our verifier would refuse it too
    with pytest.raises(FacesetFormatError, match="unsafe person name"):
        unpack_faceset(folder)
    assert not any((tmp_path / "a").glob("*.jpg"))


def test_person_pak_round_trip(dfl_fixtures: Path, tmp_path: Path) -> None:
    folder = tmp_path / "aligned"
    for name in ["t1_0.jpg", "t1_1.jpg", "t1_2.jpg", "t1_3.jpg"]:
        (folder / "friends").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dfl_fixtures / "aligned" / name, folder / "friends" / name)
    (folder / "hanks").mkdir()
    shutil.copyfile(dfl_fixtures / "aligned" / "Tom_Hanks_54745_0.jpg", folder / "hanks" / "Tom_Hanks_54745_0.jpg")
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.jpg")}
    res = pack_faceset(folder)
    assert res.packed == 5 and [p.name for p in folder.iterdir()] == ["faceset.pak"]
    with PakReader(folder / "faceset.pak") as reader:
        persons = [c["person_name"] for c in reader.configs()]
        names = [c["filename"] for c in reader.configs()]
    assert persons == ["friends"] * 4 + ["hanks"] and names[0] == "t1_0.jpg"
    fs = Faceset.open(folder)
    assert fs.names()[-1] == "hanks/Tom_Hanks_54745_0.jpg" and fs[4].person_name == "hanks"
    fs.close()
    unpack_faceset(folder)
    after = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before


def test_update_metas_in_a_pak(dfl_fixtures: Path, copy_fixture) -> None:
    folder = copy_fixture(dfl_fixtures / "pak_flat", "aligned")
    original = (folder / "faceset.pak").read_bytes()
    fs = Faceset.open(folder)
    meta = fs["t1_3.jpg"].meta
    mask = np.zeros((256, 256), np.float32)
    mask[64:192, 64:192] = 1
    meta.set_xseg_mask(mask)
    old_blobs = [r.load_bytes() for r in fs]
    fs.update_metas({"t1_3.jpg": meta})
    assert (folder / "faceset.pak").read_bytes() != original
    assert fs.names() == ["Tom_Hanks_54745_0.jpg", "t1_0.jpg", "t1_1.jpg", "t1_2.jpg", "t1_3.jpg"]
    for i in range(4):
        assert fs[i].load_bytes() == old_blobs[i]
    rec = fs["t1_3.jpg"]
    np.testing.assert_array_equal(rec.meta.get_xseg_mask()[..., 0], mask)
    assert bytes(rec.sample_config["xseg_mask_compressed"].ravel()) == rec.meta.xseg_mask
    old_layout, new_bytes = old_blobs[4], rec.load_bytes()
    from neuface.faceset import jpeg

    assert new_bytes[jpeg.walk(new_bytes, "n").tail_offset:] == old_layout[jpeg.walk(old_layout, "o").tail_offset:]
    fs.close()
    assert not [p for p in folder.iterdir() if p.name != "faceset.pak"]


def test_update_metas_in_a_folder(dfl_fixtures: Path, copy_fixture) -> None:
    folder = _flat(dfl_fixtures, copy_fixture)
    fs = Faceset.open(folder)
    meta = fs["t1_0.jpg"].meta
    meta.set_xseg_mask(None)
    fs.update_metas({"t1_0.jpg": meta})
    assert dfljpg.read_meta(folder / "t1_0.jpg").xseg_mask is None
    assert fs["t1_0.jpg"].meta.xseg_mask is None
    with pytest.raises(UsageError, match="no face named"):
        fs.update_metas({"nope.jpg": meta})


def test_pak_and_loose_images(dfl_fixtures: Path, copy_fixture, capsys) -> None:
    folder = _flat(dfl_fixtures, copy_fixture)
    pack_faceset(folder, keep=True)
    fs = Faceset.open(folder)
    assert fs.is_pak and len(fs) == 5
    assert "using faceset.pak" in capsys.readouterr().err
    with pytest.raises(UsageError, match="both faceset.pak and loose images"):
        ensure_not_mixed(folder, "sort")
    fs.close()


def test_sample_config_types(dfl_fixtures: Path) -> None:
    parsed = dfljpg.read_parsed(dfl_fixtures / "aligned" / "t1_2.jpg")
    cfg = sample_config(parsed.meta.to_dict(), "t1_2.jpg", parsed.shape, None)
    assert list(cfg) == ["sample_type", "filename", "face_type", "shape", "landmarks", "seg_ie_polys",
                         "xseg_mask", "xseg_mask_compressed", "eyebrows_expand_mod", "source_filename",
                         "person_name"]
    table = encode_configs([cfg])
    assert table[:2] == b"\x80\x04"
    for name in (b"samplelib.Sample", b"SampleType", b"facelib.FaceType", b"numpy.core.multiarray"):
        assert name in table
    assert b"numpy._core" not in table and b"neuface" not in table
