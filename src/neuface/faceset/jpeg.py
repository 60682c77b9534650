"""JPEG segment walker for DFL's APP15 metadata, and the splice that rewrites only that segment.

Only the header (SOI up to the first SOS) is parsed; everything from SOS on is kept as one opaque
tail, so rewriting metadata leaves the entropy-coded image bytes identical. Malformed input raises
FacesetFormatError naming the source, never another exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuface.errors import FacesetFormatError

APP15 = 0xEF
SOS = 0xDA
EOI = 0xD9
MAX_SEGMENT_PAYLOAD = 65533  # u16 length field, which counts its own two bytes
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7: no length field
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_NAMES = {0xD8: "SOI", 0xD9: "EOI", 0xDA: "SOS", 0xDB: "DQT", 0xDD: "DRI", 0xC4: "DHT", 0xFE: "COM",
          0xC0: "SOF0", 0xC2: "SOF2"}


@dataclass(frozen=True)
class Segment:
    """One header segment: marker byte, its offset in the file and its total size incl. `FF m`."""

    marker: int
    offset: int
    total_bytes: int

    @property
    def name(self) -> str:
        if 0xE0 <= self.marker <= 0xEF:
            return f"APP{self.marker - 0xE0}"
        return _NAMES.get(self.marker, f"0x{self.marker:02X}")

    @property
    def payload_range(self) -> tuple[int, int]:
        start = self.offset + (4 if self.total_bytes > 2 else 2)
        return start, self.offset + self.total_bytes


@dataclass(frozen=True)
class JpegLayout:
    """The header segments (SOI first) and where the SOS tail starts."""

    segments: list[Segment]
    tail_offset: int

    def app15(self) -> list[Segment]:
        return [s for s in self.segments if s.marker == APP15]


def is_jpeg(data: bytes | memoryview) -> bool:
    return bytes(data[:3]) == b"\xff\xd8\xff"


def walk(data: bytes | memoryview, source: str) -> JpegLayout:
    """Parse the header segments of a JPEG (FacesetFormatError naming `source` when malformed)."""
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        raise FacesetFormatError(f"{source}: not a JPEG file (no SOI marker)")
    segments = [Segment(0xD8, 0, 2)]
    pos = 2
    while True:
        if pos + 2 > n:
            raise FacesetFormatError(f"{source}: truncated JPEG (no image data after offset {pos})")
        if data[pos] != 0xFF:
            raise FacesetFormatError(f"{source}: corrupt JPEG (no segment marker at offset {pos})")
        marker = data[pos + 1]
        if marker == SOS:
            return JpegLayout(segments, pos)
        if marker in (0xD8, EOI, 0xFF, 0x00):
            raise FacesetFormatError(f"{source}: corrupt JPEG (unexpected marker FF{marker:02X} at offset {pos})")
        if marker in _STANDALONE:
            segments.append(Segment(marker, pos, 2))
            pos += 2
            continue
        if pos + 4 > n:
            raise FacesetFormatError(f"{source}: truncated JPEG (segment header at offset {pos})")
        length = (data[pos + 2] << 8) | data[pos + 3]
        if length < 2 or pos + 2 + length > n:
            raise FacesetFormatError(f"{source}: truncated or corrupt JPEG segment FF{marker:02X} at offset {pos}")
        segments.append(Segment(marker, pos, 2 + length))
        pos += 2 + length


def image_shape(data: bytes | memoryview, layout: JpegLayout, source: str) -> tuple[int, int, int]:
    """(height, width, 3) from the SOF header, as DFL reports it."""
    for seg in layout.segments:
        if seg.marker in _SOF and seg.total_bytes >= 9:
            p = seg.offset + 4
            return ((data[p + 1] << 8) | data[p + 2], (data[p + 3] << 8) | data[p + 4], 3)
    raise FacesetFormatError(f"{source}: JPEG has no frame header (SOF)")


def metadata_payload(data: bytes | memoryview, layout: JpegLayout) -> bytes | None:
    """The last APP15 payload (DFL reads every APP15 and the last one wins), or None."""
    found = layout.app15()
    if not found:
        return None
    start, end = found[-1].payload_range
    return bytes(data[start:end])


def splice_app15(data: bytes, layout: JpegLayout, payload: bytes, source: str) -> bytes:
    """DFL's save: drop the first APP15, insert the new one after the last APPn (or SOI); rest untouched."""
    if len(payload) > MAX_SEGMENT_PAYLOAD:
        raise FacesetFormatError(
            f"{source}: metadata is {len(payload)} bytes, over the JPEG segment limit of {MAX_SEGMENT_PAYLOAD} "
            "(DFL could not read it); the file was not changed")
    segs = list(layout.segments)
    first = next((i for i, s in enumerate(segs) if s.marker == APP15), None)
    if first is not None:
        del segs[first]
    insert_at = 1 + max((i for i, s in enumerate(segs) if 0xE0 <= s.marker <= 0xEF), default=0)
    new_seg = b"\xff\xef" + (len(payload) + 2).to_bytes(2, "big") + payload
    parts = [data[s.offset:s.offset + s.total_bytes] for s in segs]
    parts.insert(insert_at, new_seg)
    parts.append(data[layout.tail_offset:])
    return b"".join(parts)


def full_segments(data: bytes | memoryview, layout: JpegLayout) -> list[tuple[str, int, int]]:
    """(name, offset, total_bytes) of every segment the way DFL splits the file (SOS runs to FF D9)."""
    out = [(s.name, s.offset, s.total_bytes) for s in layout.segments]
    raw = bytes(data)
    sos = layout.tail_offset
    header_len = int.from_bytes(raw[sos + 2:sos + 4], "big") if sos + 4 <= len(raw) else 0
    end = raw.find(b"\xff\xd9", sos + 2 + header_len)
    end = len(raw) if end < 0 else end
    out.append(("SOS", sos, end - sos))
    if end < len(raw):
        out.append(("EOI", end, 2))
    return out
