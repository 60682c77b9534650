"""Our readers match, value for value, the JSON that DFL's own code produced for every fixture file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuface.dfl.facetype import FaceType, SampleType
from neuface.faceset import Faceset, dfljpg, jpeg
from neuface.faceset.pak import PakReader

ALIGNED = ["Tom_Hanks_54745_0.jpg", "t1_0.jpg", "t1_1.jpg", "t1_2.jpg", "t1_3.jpg"]


def check_value(value: Any, spec: dict[str, Any], where: str) -> None:
    """Compare one Python value with the fixture JSON's typed description of it."""
    py_type = spec["py_type"]
    if py_type == "NoneType":
        assert value is None, where
    elif py_type in ("str", "int", "float", "bool"):
        assert type(value).__name__ == py_type and value == spec["value"], where
    elif py_type == "tuple":
        assert isinstance(value, tuple) and list(value) == spec["value"], where
    elif py_type.startswith("list[list["):
        assert isinstance(value, list) and len(value) == spec["len"], where
        assert all(isinstance(x, float) for row in value for x in row), where
        assert value == spec["value"], where
    elif py_type == "numpy.ndarray":
        assert isinstance(value, np.ndarray), where
        assert value.dtype.str == spec["dtype"] and list(value.shape) == spec["shape"], where
        if "value" in spec:
            assert value.tolist() == spec["value"], where
        if "encoded_sha256" in spec:
            assert hashlib.sha256(value.tobytes()).hexdigest() == spec["encoded_sha256"], where
    elif py_type == "dict":
        assert isinstance(value, dict) and list(value) == list(spec["value"]), where
        for k, sub in spec["value"].items():
            check_value(value[k], sub, f"{where}.{k}")
    elif py_type == "list":
        assert isinstance(value, list) and len(value) == len(spec["value"]), where
        for i, sub in enumerate(spec["value"]):
            check_value(value[i], sub, f"{where}[{i}]")
    elif py_type == "samplelib.Sample.SampleType":
        assert isinstance(value, SampleType) and int(value) == spec["int_value"], where
        assert value.name == spec["enum_name"], where
    elif py_type == "facelib.FaceType.FaceType":
        assert isinstance(value, FaceType) and int(value) == spec["int_value"] and value.name == spec["enum_name"]
    else:
        pytest.fail(f"{where}: fixture type {py_type} not handled")


@pytest.mark.parametrize("name", ALIGNED)
def test_aligned_file_matches_dfl_json(dfl_fixtures: Path, name: str) -> None:
    spec = json.loads((dfl_fixtures / "json" / f"{name}.json").read_text())
    path = dfl_fixtures / "aligned" / name
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == spec["sha256"]
    parsed = dfljpg.read_parsed(path)
    assert parsed.protocol == spec["pickle"]["protocol"]
    assert parsed.shape == (spec["jpeg"]["height"], spec["jpeg"]["width"], 3)

    # Segment walk as DFL splits the file.
    layout = jpeg.walk(data, name)
    got = [(n, o, t) for n, o, t in jpeg.full_segments(data, layout)]
    want = [(s["name"], s["offset"], s["total_bytes"]) for s in spec["jpeg"]["segments"]]
    assert got == want
    app15 = layout.app15()[-1]
    assert app15.offset == spec["jpeg"]["app15"]["offset"]
    assert app15.payload_range[0] == spec["jpeg"]["app15"]["payload_offset"]

    # Every value of the dict, through FaceMeta.to_dict (what we would write back).
    out = parsed.meta.to_dict()
    assert list(out) == spec["dfl_dict_key_order"]
    for key, sub in spec["dfl_dict"].items():
        check_value(out[key], sub, key)

    # Typed view agrees with the raw values.
    meta = parsed.meta
    raw = spec["dfl_dict"]
    assert meta.face_type == raw["face_type"]["value"]
    assert meta.landmarks.dtype == np.float32 and meta.landmarks.shape == (68, 2)
    np.testing.assert_array_equal(meta.landmarks, np.float32(raw["landmarks"]["value"]))
    np.testing.assert_array_equal(meta.image_to_face_mat, np.array(raw["image_to_face_mat"]["value"]))
    if "xseg_mask" in raw:
        ref = (dfl_fixtures / raw["xseg_mask"]["encoded_bytes_extracted_to"]).read_bytes()
        assert meta.xseg_mask == ref
        mask = meta.get_xseg_mask()
        assert mask.shape == (256, 256, 1) and mask.dtype == np.float32
        assert int((mask > 0).sum()) == raw["xseg_mask"]["decoded_nonzero_count"]
    else:
        assert meta.xseg_mask is None and meta.get_xseg_mask() is None


def test_dfl_pak_matches_json(dfl_fixtures: Path) -> None:
    spec = json.loads((dfl_fixtures / "json" / "pak_flat.faceset.pak.json").read_text())
    with PakReader(dfl_fixtures / "pak_flat" / "faceset.pak") as reader:
        assert len(reader) == len(spec["samples"])
        assert reader.data_start == spec["data_start"]
        for i, s in enumerate(spec["samples"]):
            blob = reader.blob(i)
            assert len(blob) == s["size"]  # true size, not DFL's over-long last one
            assert hashlib.sha256(blob).hexdigest() == s["sha256"]
        configs = reader.configs()
        for i, cfg_spec in enumerate(spec["sample_configs"]):
            assert list(configs[i]) == spec["samples_pickle"]["config_key_order"]
            for key, sub in cfg_spec.items():
                check_value(configs[i][key], sub, f"sample[{i}].{key}")


def test_pak_faceset_records_match_loose_files(dfl_fixtures: Path, tmp_path: Path, copy_fixture) -> None:
    folder = Faceset.open(dfl_fixtures / "aligned")
    pak = Faceset.open(copy_fixture(dfl_fixtures / "pak_flat", "pak_flat"))
    assert pak.is_pak and not folder.is_pak
    assert len(pak) == len(folder) == 5
    assert pak.names() == folder.names() == ALIGNED
    for a, b in zip(folder, pak, strict=True):
        assert b.path is None and a.path is not None
        assert a.load_bytes() == b.load_bytes()
        assert a.meta.to_dict().keys() == b.meta.to_dict().keys()
        np.testing.assert_array_equal(a.meta.landmarks, b.meta.landmarks)
        assert a.shape == b.shape
        img = b.load_image()
        assert img.dtype == np.uint8 and img.shape == b.shape
    pak.close()
