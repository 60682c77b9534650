"""What neuface writes for DFL unpickles under numpy 1.x, the way DFL (numpy 1.19) reads it.

A side venv with numpy<2 (shared with the onnxruntime 1.15.1 test) loads, with plain `pickle` and a
`find_class` that refuses `numpy._core` (which numpy 1.19 cannot import), every pickle neuface writes for
DFL: an aligned face's APP15 metadata, a faceset.pak sample table (DFL's enum classes stubbed as IntEnums
under DFL's module names), SAEHD weight files and data.dat.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from neuface.faceset import dfljpg
from neuface.pack.packer import pack_faceset
from neuface.train.model_folder import create_model, save_model
from neuface.train.options import SAEHDOptions
from test_export_ort115 import ort115_python  # noqa: F401  (the numpy<2 side venv fixture)

_READER = r'''
import enum, json, pickle, struct, sys, types
import numpy as np

for mod, cls in (("samplelib.Sample", "SampleType"), ("facelib.FaceType", "FaceType")):
    for i in range(1, mod.count(".") + 2):
        name = ".".join(mod.split(".")[:i])
        sys.modules.setdefault(name, types.ModuleType(name))
    setattr(sys.modules[mod], cls, enum.IntEnum(cls, {f"V{v}": v for v in range(0, 20)}))

class Numpy119(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("numpy._core"):
            raise ImportError("numpy 1.19 has no " + module)
        return super().find_class(module, name)

def load(data):
    import io
    return Numpy119(io.BytesIO(data)).load()

def app15(path):
    data = open(path, "rb").read()
    pos, payload = 2, None
    while pos < len(data) - 4:
        marker = data[pos + 1]; size = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == 0xEF:
            payload = data[pos + 4:pos + 2 + size]
        if marker == 0xDA:
            break
        pos += 2 + size
    return load(payload)

out = {"numpy": np.__version__}
meta = app15(sys.argv[1])
out["jpeg"] = {"keys": sorted(meta), "landmarks": list(np.asarray(meta["landmarks"]).shape),
               "mat": str(np.asarray(meta["image_to_face_mat"]).dtype)}
pak = open(sys.argv[2], "rb").read()
version, size = struct.unpack("<QQ", pak[:16])
table = load(pak[16:16 + size])
out["pak"] = {"version": version, "n": len(table), "first": list(table[0])[:3],
              "face_type": int(table[0]["face_type"]), "shape": list(table[0]["shape"])}
weights = load(open(sys.argv[3], "rb").read())
out["weights"] = {"n": len(weights), "dtypes": sorted({str(v.dtype) for v in weights.values()})}
data = load(open(sys.argv[4], "rb").read())
opts = data["options"]
out["data"] = {"iter": data["iter"], "first_keys": list(opts)[:4], "resolution_type": type(opts["resolution"]).__name__}
print(json.dumps(out))
'''


def test_dfl_pickles_load_under_numpy1(tmp_path: Path, ort115_python: Path, dfl_fixtures: Path,  # noqa: F811
                                       copy_fixture) -> None:
    aligned = copy_fixture(dfl_fixtures / "aligned", "aligned")
    face = aligned / "t1_0.jpg"
    meta = dfljpg.read_meta(face)
    meta.landmarks = meta.landmarks + np.float32(0.5)  # force a fresh pickle of every value
    meta.extra["neuface_identity"] = np.ones(128, np.float32)
    dfljpg.update_meta(face, meta)
    rewritten = tmp_path / "rewritten.jpg"
    rewritten.write_bytes(face.read_bytes())
    pack_faceset(aligned)
    opts = SAEHDOptions(resolution=64, archi="liae-ud", ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=8,
                        face_type="wf")
    ref, model = create_model(tmp_path / "model", "compat", opts)
    save_model(ref, model)
    weights = ref.weights_file("encoder")
    script = tmp_path / "reader.py"
    script.write_text(_READER)
    run = subprocess.run([str(ort115_python), str(script), str(rewritten), str(aligned / "faceset.pak"),
                          str(weights), str(ref.data_file)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    assert out["numpy"].startswith("1.")
    assert {"face_type", "landmarks", "image_to_face_mat", "source_filename"} <= set(out["jpeg"]["keys"])
    assert out["jpeg"]["landmarks"] == [68, 2]
    assert out["pak"]["version"] == 1 and out["pak"]["n"] == 5
    assert out["pak"]["first"] == ["sample_type", "filename", "face_type"]
    assert out["weights"]["n"] > 0 and out["weights"]["dtypes"] == ["float32"]
    assert out["data"]["first_keys"] == ["resolution", "face_type", "models_opt_on_gpu", "archi"]
    assert out["data"]["resolution_type"] == "int64"
