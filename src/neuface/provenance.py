"""Provenance for rendered media: every image neuface writes that shows a synthesized face says so.

`.dfm` files carry ONNX metadata (`neuface.export.provenance`) and merged videos container metadata
(`neuface.merge.provenance`); images (training previews, the demo's swap preview, merge previews and
`--frames-dir` frames) carry PNG text chunks built here, so a viewer or a script can tell they are
synthetic, which model made them and at which iteration.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

from neuface import __version__

IPTC_TRAINED_ALGORITHMIC = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def synthetic_media_text(model_name: str, iteration: int | None, what: str) -> dict[str, str]:
    """Key/value pairs that mark an image as synthetic media made by `model_name` at `iteration`."""
    at = f" at iteration {iteration}" if iteration is not None else ""
    text = {
        "synthetic_media": "true",
        "digital_source_type": IPTC_TRAINED_ALGORITHMIC,
        "Software": f"neuface {__version__}",
        "Description": f"Synthetic media: {what} with faces made by model {model_name}{at} (neuface).",
        "neuface_model": model_name,
    }
    if iteration is not None:
        text["neuface_iteration"] = str(int(iteration))
    return text


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def add_png_text(png: bytes, text: Mapping[str, str]) -> bytes:
    """Insert UTF-8 `iTXt` chunks right after the PNG header chunk (no re-encode; pixels untouched)."""
    if not png.startswith(_PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG stream")
    ihdr_end = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    chunks = b"".join(
        _chunk(b"iTXt", key.encode("latin-1", "replace")[:79] + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))
        for key, value in text.items()
    )
    return png[:ihdr_end] + chunks + png[ihdr_end:]


def encode_png(image_bgr, text: Mapping[str, str] | None = None) -> bytes:
    """PNG bytes of a BGR/gray image, with provenance text chunks when given."""
    import cv2

    ok, buf = cv2.imencode(".png", image_bgr)
    if not ok:
        raise OSError("PNG encoding failed")
    png = buf.tobytes()
    return add_png_text(png, text) if text else png
