"""PNG aligned faces with old DFL's `fcWp` metadata chunk (DFL 2.0 dropped PNG; we read and write it).

Layout: the PNG signature, then chunks of u32 length, 4-byte type, data, CRC-32. Old DFL kept its
pickled dict in one private `fcWp` chunk placed just before IEND; rewriting replaces only that chunk.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from neuface.errors import FacesetFormatError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
META_CHUNK = b"fcWp"


@dataclass(frozen=True)
class Chunk:
    type: bytes
    offset: int  # of the length field
    length: int  # of the data

    @property
    def end(self) -> int:
        return self.offset + 12 + self.length

    @property
    def data_range(self) -> tuple[int, int]:
        return self.offset + 8, self.offset + 8 + self.length


def is_png(data: bytes | memoryview) -> bool:
    return bytes(data[:8]) == SIGNATURE


def walk(data: bytes | memoryview, source: str) -> list[Chunk]:
    """Every chunk up to IEND (FacesetFormatError naming `source` when malformed)."""
    if not is_png(data):
        raise FacesetFormatError(f"{source}: not a PNG file (bad signature)")
    n = len(data)
    chunks: list[Chunk] = []
    pos = 8
    while True:
        if pos + 12 > n:
            raise FacesetFormatError(f"{source}: truncated PNG (chunk header at offset {pos})")
        length = int.from_bytes(data[pos:pos + 4], "big")
        ctype = bytes(data[pos + 4:pos + 8])
        if length > 0x7FFFFFFF or pos + 12 + length > n:
            raise FacesetFormatError(f"{source}: truncated or corrupt PNG chunk at offset {pos}")
        chunks.append(Chunk(ctype, pos, length))
        pos += 12 + length
        if ctype == b"IEND":
            break
    if chunks[0].type != b"IHDR" or chunks[0].length < 8:
        raise FacesetFormatError(f"{source}: PNG does not start with an IHDR chunk")
    return chunks


def image_shape(data: bytes | memoryview, chunks: list[Chunk]) -> tuple[int, int, int]:
    """(height, width, 3) from IHDR."""
    start = chunks[0].data_range[0]
    width = int.from_bytes(data[start:start + 4], "big")
    height = int.from_bytes(data[start + 4:start + 8], "big")
    return (height, width, 3)


def metadata_payload(data: bytes | memoryview, chunks: list[Chunk], source: str) -> bytes | None:
    """The last `fcWp` chunk's data (CRC checked), or None."""
    found = [c for c in chunks if c.type == META_CHUNK]
    if not found:
        return None
    c = found[-1]
    start, end = c.data_range
    payload = bytes(data[start:end])
    crc = int.from_bytes(data[end:end + 4], "big")
    if zlib.crc32(META_CHUNK + payload) != crc:
        raise FacesetFormatError(f"{source}: PNG metadata chunk fcWp has a bad CRC (corrupt file)")
    return payload


def make_chunk(ctype: bytes, payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + ctype + payload + zlib.crc32(ctype + payload).to_bytes(4, "big")


def splice_fcwp(data: bytes, chunks: list[Chunk], payload: bytes) -> bytes:
    """Old DFL's save: remove every fcWp chunk, insert the new one just before the last chunk (IEND)."""
    kept = [c for c in chunks if c.type != META_CHUNK]
    parts = [data[:8]] + [data[c.offset:c.end] for c in kept[:-1]]
    parts.append(make_chunk(META_CHUNK, payload))
    parts.append(data[kept[-1].offset:])  # IEND and anything after it, untouched
    return b"".join(parts)
