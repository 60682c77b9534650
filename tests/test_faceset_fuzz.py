"""Fuzz the JPEG/PNG segment walkers and the pak reader: only FacesetFormatError may escape."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuface.errors import FacesetFormatError
from neuface.faceset import Faceset, dfljpg
from neuface.faceset.pak import PakReader

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "dfl"
JPEG = (FIXTURES / "aligned" / "t1_2.jpg").read_bytes()
PAK = (FIXTURES / "pak_flat" / "faceset.pak").read_bytes()
EXAMPLES = int(os.environ.get("NEUFACE_FUZZ_EXAMPLES", "300"))  # CI budget; raise it for a longer local run
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        out[pos % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


# Edits concentrate on the header and metadata, where the parsers work.
edits = st.lists(st.tuples(st.integers(0, 12000), st.integers(0, 255)), min_size=1, max_size=8)


def _parse(data: bytes) -> None:
    try:
        parsed = dfljpg.parse_bytes(data, "fuzz.jpg")
        parsed.meta.to_dict()
    except FacesetFormatError:
        pass


@FUZZ
@given(edits=edits, cut=st.one_of(st.none(), st.integers(0, len(JPEG))))
def test_fuzz_jpeg_metadata(edits: list[tuple[int, int]], cut: int | None) -> None:
    _parse(_mutate(JPEG, [(p % 5300, v) for p, v in edits], cut))


@FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _parse(data)
    _parse(b"\xff\xd8\xff" + data)
    _parse(b"\x89PNG\r\n\x1a\n" + data)


@FUZZ
@given(edits=edits, cut=st.one_of(st.none(), st.integers(0, len(PAK))))
def test_fuzz_pak_reader(edits: list[tuple[int, int]], cut: int | None) -> None:
    data = _mutate(PAK, [(p % 11500, v) for p, v in edits], cut)
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "faceset.pak").write_bytes(data)
        try:
            with PakReader(Path(d) / "faceset.pak") as reader:
                reader.configs()
                for i in range(len(reader)):
                    reader.blob(i)
            fs = Faceset.open(d)
            for rec in fs:
                assert rec.meta.landmarks.ndim == 2
            fs.close()
        except FacesetFormatError:
            pass
