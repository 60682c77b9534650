"""Read and write DFL aligned-face images: JPEG with APP15 metadata (and old-DFL PNG with `fcWp`).

Readers accept pickle protocols 2-5 and numpy 1/2 module names through the restricted unpickler.
Writers produce what DFL 2.0 (Python 3.6, numpy 1.19) reads: protocol 3 for new files, the file's own
protocol when rewriting (5 is lowered to 4), `numpy.core.*` globals, payload size checked before any
byte is written, every write atomic. `update_meta` changes only the metadata segment/chunk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuface.atomic import atomic_write_bytes
from neuface.dfl.safe_pickle import dumps_compat, pickle_protocol
from neuface.errors import FacesetFormatError
from neuface.faceset import jpeg, png
from neuface.faceset.meta import FaceMeta
from neuface.faceset.unpickle import load_dfl_pickle

NEW_FILE_PROTOCOL = 3  # what DFL's Python-3.6 Windows builds write; readable by every DFL
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class ParsedFace:
    """What one aligned-face file holds: typed metadata, the raw dict, shape and pickle protocol."""

    meta: FaceMeta
    raw: dict
    shape: tuple[int, int, int]
    protocol: int
    kind: str  # "jpeg" or "png"


def _payload_and_shape(data: bytes | memoryview, source: str) -> tuple[bytes | None, tuple[int, int, int], str]:
    if jpeg.is_jpeg(data):
        layout = jpeg.walk(data, source)
        return jpeg.metadata_payload(data, layout), jpeg.image_shape(data, layout, source), "jpeg"
    if png.is_png(data):
        chunks = png.walk(data, source)
        return png.metadata_payload(data, chunks, source), png.image_shape(data, chunks), "png"
    raise FacesetFormatError(f"{source}: not a JPEG or PNG image")


def parse_bytes(data: bytes | memoryview, source: str) -> ParsedFace:
    """Parse an aligned face held in memory (FacesetFormatError naming `source` on any problem)."""
    payload, shape, kind = _payload_and_shape(data, source)
    if payload is None:
        raise FacesetFormatError(f"{source}: no DFL metadata (not an aligned face)")
    raw = load_dfl_pickle(payload, source)
    if not isinstance(raw, dict) or not raw:
        raise FacesetFormatError(f"{source}: DFL metadata is empty or not a dict (not an aligned face)")
    try:
        meta = FaceMeta.from_dict(raw)
    except Exception as exc:  # noqa: BLE001 - any malformed value is a format error of this file
        raise FacesetFormatError(f"{source}: malformed DFL metadata: {exc}") from None
    return ParsedFace(meta, raw, shape, pickle_protocol(payload), kind)


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise FacesetFormatError(f"{path}: cannot read: {exc.strerror}") from None


def read_parsed(path: str | os.PathLike[str]) -> ParsedFace:
    """Metadata, raw dict, shape and protocol of an aligned-face file."""
    return parse_bytes(_read(path), str(path))


def read_meta(path: str | os.PathLike[str]) -> FaceMeta:
    """The metadata of an aligned-face file (FacesetFormatError naming the file when it is not one)."""
    return read_parsed(path).meta


def _payload(meta: FaceMeta, protocol: int) -> bytes:
    return dumps_compat(meta.to_dict(), protocol=min(max(protocol, 2), 4))


def with_meta(data: bytes, meta: FaceMeta, source: str, protocol: int | None = None) -> bytes:
    """The same image bytes with `meta` as its metadata (existing protocol kept unless given)."""
    if jpeg.is_jpeg(data):
        layout = jpeg.walk(data, source)
        old = jpeg.metadata_payload(data, layout)
        proto = protocol or (pickle_protocol(old) if old else NEW_FILE_PROTOCOL)
        return jpeg.splice_app15(data, layout, _payload(meta, proto), source)
    if png.is_png(data):
        chunks = png.walk(data, source)
        old = png.metadata_payload(data, chunks, source)
        proto = protocol or (pickle_protocol(old) if old else NEW_FILE_PROTOCOL)
        return png.splice_fcwp(data, chunks, _payload(meta, proto))
    raise FacesetFormatError(f"{source}: not a JPEG or PNG image")


def update_meta(path: str | os.PathLike[str], meta: FaceMeta) -> None:
    """Rewrite only the metadata of an existing aligned face, atomically; image bytes stay identical."""
    atomic_write_bytes(path, with_meta(_read(path), meta, str(path)))


def _encode(image: np.ndarray, kind: str, params: list[int], source: str) -> bytes:
    """`image` (uint8 HxWx3 BGR) as OpenCV encodes it, `kind` "JPEG" or "PNG"."""
    import cv2

    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        raise ValueError(f"{source}: aligned face must be uint8 HxWx3 BGR, got {img.dtype} {img.shape}")
    ok, buf = cv2.imencode(".jpg" if kind == "JPEG" else ".png", np.ascontiguousarray(img), params)
    if not ok:
        raise FacesetFormatError(f"{source}: OpenCV could not encode the {kind}")
    return buf.tobytes()


def encode_aligned_jpeg(image_bgr_uint8: np.ndarray, meta: FaceMeta, quality: int = 90,
                        source: str = "<image>") -> bytes:
    """JPEG bytes (OpenCV encoder, no restart markers so DFL can parse it) with `meta` in APP15."""
    import cv2

    data = _encode(image_bgr_uint8, "JPEG", [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)], source)
    return jpeg.splice_app15(data, jpeg.walk(data, source), _payload(meta, NEW_FILE_PROTOCOL), source)


def write_aligned_jpeg(path: str | os.PathLike[str], image_bgr_uint8: np.ndarray, meta: FaceMeta,
                       quality: int = 90) -> None:
    """Write an aligned face DFL can load, atomically. A `.png` path writes a lossless PNG with `meta` in
    old DFL's `fcWp` chunk instead (DFL 2.0 cannot load it)."""
    if Path(path).suffix.lower() == ".png":
        data = _encode(image_bgr_uint8, "PNG", [], str(path))
        blob = png.splice_fcwp(data, png.walk(data, str(path)), _payload(meta, NEW_FILE_PROTOCOL))
    else:
        blob = encode_aligned_jpeg(image_bgr_uint8, meta, quality, str(path))
    atomic_write_bytes(path, blob)


def decode_image(data: bytes | memoryview, source: str) -> np.ndarray:
    """BGR uint8 HxWx3 pixels of an aligned face's bytes."""
    import cv2

    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise FacesetFormatError(f"{source}: image data cannot be decoded (corrupt file)")
    return img
