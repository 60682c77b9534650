"""The restricted unpickler refuses foreign globals and the compat pickler writes numpy-1 names."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from neuface.dfl.safe_pickle import dumps_compat, pickle_protocol, safe_loads
from neuface.errors import ForbiddenGlobalError


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/neuface_pwned",))


def test_refuses_os_system_without_running_it(tmp_path) -> None:
    marker = "/tmp/neuface_pwned"
    if os.path.exists(marker):
        os.remove(marker)
    payload = pickle.dumps({"a": _Evil()}, protocol=4)
    with pytest.raises(ForbiddenGlobalError) as info:
        safe_loads(payload)
    assert info.value.name == "system"
    assert not os.path.exists(marker)


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_numpy_roundtrip_with_numpy1_names(protocol: int) -> None:
    obj = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "i": np.int64(7), "f": np.float64(0.5),
           "l": [1.0, 2.0], "s": "x", "n": None}
    data = dumps_compat(obj, protocol=protocol)
    assert b"numpy._core" not in data
    assert b"numpy.core.multiarray" in data
    assert pickle_protocol(data) == protocol
    back = safe_loads(data)
    assert np.array_equal(back["w"], obj["w"]) and back["w"].dtype == np.float32
    assert back["i"] == 7 and isinstance(back["i"], np.integer)
    assert back["l"] == [1.0, 2.0] and back["n"] is None


def test_reads_numpy2_pickles() -> None:
    data = pickle.dumps({"w": np.ones((2, 2), np.float32)}, protocol=4)
    assert np.array_equal(safe_loads(data)["w"], np.ones((2, 2), np.float32))


def test_protocol_5_refused_for_writing() -> None:
    with pytest.raises(ValueError):
        dumps_compat({}, protocol=5)


def test_atomic_write_keeps_mode_and_leaves_no_temp(tmp_path) -> None:
    from neuface.atomic import atomic_write_bytes

    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"new")
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    target.chmod(0o640)
    atomic_write_bytes(target, b"newer")
    assert target.read_bytes() == b"newer" and target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_failure_keeps_old_file(tmp_path) -> None:
    from neuface.atomic import atomic_path

    target = tmp_path / "f.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_staging_dir_has_mkdir_permissions(tmp_path) -> None:
    from neuface.atomic import staging_dir

    with staging_dir(tmp_path / "frames") as tmp:
        (tmp / "x").write_bytes(b"1")
        assert tmp.stat().st_mode & 0o777 == 0o777 & ~_umask()
