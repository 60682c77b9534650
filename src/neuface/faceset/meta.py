"""`FaceMeta`: one aligned face's DFL metadata as a typed record that round-trips DFL's dict exactly.

DFL stores a plain dict (see dfl-formats.md §1.4). `FaceMeta.from_dict` turns it into typed fields and
remembers the original values; `to_dict` hands back the *original objects* for every field that was
not changed, so rewriting a file without edits reproduces DFL's pickle byte for byte (landmarks are
exposed as float32, but the file keeps DFL's float64 values unless you assign new ones). Unknown keys
live in `extra` and are carried through untouched. As in DFL, a field set to None is removed on write.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuface.dfl.facetype import FaceType
from neuface.faceset.maskcodec import decode_xseg_mask, encode_xseg_mask
from neuface.faceset.polys import load_polys, normalize_polys

KNOWN_KEYS = ("face_type", "landmarks", "source_filename", "source_rect", "source_landmarks",
              "image_to_face_mat", "seg_ie_polys", "xseg_mask", "eyebrows_expand_mod")
DEFAULT_FACE_TYPE = "full_face"  # DFL's reader default when the key is missing


def _points(value: Any, dtype: type, what: str) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        arr = np.array(value, dtype=dtype)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{what} has shape {arr.shape}, expected (N, 2)")
    return arr


def _decode(key: str, value: Any) -> Any:
    """A stored DFL value → the typed value FaceMeta exposes (ValueError when malformed)."""
    if value is None:
        return DEFAULT_FACE_TYPE if key == "face_type" else None
    if key in ("face_type", "source_filename"):
        if key == "face_type" and isinstance(value, int):
            return FaceType(value).dfl_name
        if not isinstance(value, str):
            raise ValueError(f"{key} is a {type(value).__name__}, expected str")
        return value
    if key == "landmarks":
        return _points(value, np.float32, "landmarks")
    if key == "source_landmarks":
        return _points(value, np.float64, "source_landmarks")
    if key == "source_rect":
        arr = np.array(value)
        if arr.size != 4 or arr.dtype.kind not in "iuf":
            raise ValueError(f"source_rect has shape {arr.shape} / dtype {arr.dtype}, expected 4 numbers")
        return arr.reshape(4)
    if key == "image_to_face_mat":
        arr = np.array(value, dtype=np.float64)
        if arr.shape != (2, 3):
            raise ValueError(f"image_to_face_mat has shape {arr.shape}, expected (2, 3)")
        return arr
    if key == "seg_ie_polys":
        load_polys(value)  # validates
        return copy.deepcopy(value)
    if key == "xseg_mask":
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        arr = np.asarray(value)
        if arr.dtype != np.uint8:
            raise ValueError(f"xseg_mask is {arr.dtype}, expected uint8 encoded image bytes")
        return arr.tobytes()
    if key == "eyebrows_expand_mod":
        return float(value)
    raise KeyError(key)


def _encode(key: str, value: Any) -> Any:
    """A typed value → what DFL stores (None means: leave the key out)."""
    if key == "face_type":
        return FaceType.from_string(value).dfl_name
    if key in ("landmarks", "source_landmarks"):
        return _points(value, np.float64, key).tolist()
    if key == "source_filename":
        return str(value)
    if key == "source_rect":
        arr = np.asarray(value)
        if arr.dtype.kind not in "iu":
            arr = np.round(arr).astype(np.int64)
        return np.ascontiguousarray(arr.reshape(4))
    if key == "image_to_face_mat":
        return np.ascontiguousarray(np.asarray(value, dtype=np.float64).reshape(2, 3))
    if key == "seg_ie_polys":
        dumped = normalize_polys(value)
        return dumped if dumped["polys"] else None
    if key == "xseg_mask":
        return np.frombuffer(bytes(value), dtype=np.uint8).reshape(-1, 1).copy()
    if key == "eyebrows_expand_mod":
        return float(value)
    raise KeyError(key)


def _same(a: Any, b: Any) -> bool:
    """Deep equality that treats arrays by dtype, shape and value."""
    if a is None or b is None:
        return a is b
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and bool(np.array_equal(a, b)))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@dataclass(eq=False)
class FaceMeta:
    """Metadata of one aligned face (DFL's APP15 dict), typed.

    `landmarks` are float32 (N,2) in aligned-face pixels; `xseg_mask` is the encoded PNG/JPEG bytes as
    DFL stores them (use `get_xseg_mask`/`set_xseg_mask` for pixels); `seg_ie_polys` is DFL's polygon
    dict; `extra` holds every other key (legacy DFL keys, neuface-only keys such as `neuface_identity`).
    """

    face_type: str = DEFAULT_FACE_TYPE
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((68, 2), np.float32))
    source_filename: str | None = None
    source_rect: np.ndarray | None = None
    source_landmarks: np.ndarray | None = None
    image_to_face_mat: np.ndarray | None = None
    seg_ie_polys: Any = None
    xseg_mask: bytes | None = None
    eyebrows_expand_mod: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    _raw: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _orig: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaceMeta:
        """Build from DFL's dict (ValueError when a known key is malformed or landmarks are missing)."""
        if not isinstance(d, dict):
            raise ValueError(f"metadata is a {type(d).__name__}, expected dict")
        if d.get("landmarks") is None:
            raise ValueError("metadata has no landmarks")
        values = {k: _decode(k, d.get(k)) for k in KNOWN_KEYS}
        meta = cls(**values, extra={k: v for k, v in d.items() if k not in KNOWN_KEYS})
        meta._raw = dict(d)
        meta._orig = {k: copy.deepcopy(v) for k, v in values.items()}
        return meta

    def to_dict(self) -> dict[str, Any]:
        """DFL's dict: original key order, original objects for unchanged fields, None fields removed."""
        out: dict[str, Any] = {}
        order = list(self._raw) + [k for k in KNOWN_KEYS if k not in self._raw]
        order += [k for k in self.extra if k not in self._raw]
        for key in order:
            if key in KNOWN_KEYS:
                cur = getattr(self, key)
                if key in self._orig and _same(cur, self._orig[key]):
                    if key in self._raw:
                        out[key] = self._raw[key]
                    continue
                if cur is None:
                    continue
                value = _encode(key, cur)
                if value is not None:
                    out[key] = value
            elif key in self.extra:
                value = self.extra[key]
                if value is not None or (key in self._raw and self._raw[key] is None):
                    out[key] = value
        return out

    def copy(self) -> FaceMeta:
        """An independent deep copy that still round-trips the original values."""
        return copy.deepcopy(self)

    def get_xseg_mask(self) -> np.ndarray | None:
        """The applied XSeg mask as float32 (H,W,1) in [0,1] (usually 256×256), or None."""
        return None if self.xseg_mask is None else decode_xseg_mask(self.xseg_mask)

    def set_xseg_mask(self, mask: np.ndarray | None) -> None:
        """Store a mask (float [0,1], bool or uint8 0..255) encoded as DFL does; None removes it."""
        self.xseg_mask = None if mask is None else encode_xseg_mask(mask)

    def get_polys(self) -> list[tuple[int, np.ndarray]]:
        """XSeg-editor polygons as `(type, float32 (K,2))`, includes first (1 = include, 0 = exclude)."""
        return load_polys(self.seg_ie_polys)

    def set_polys(self, polys: list[tuple[int, np.ndarray]] | None) -> None:
        """Replace the polygons; an empty list or None removes the key (as DFL does)."""
        self.seg_ie_polys = normalize_polys(polys) if polys else None
