import json

import numpy as np
import pytest

from xrsr_lib import io
from xrsr_lib.io.cache import Cache, atomic_path, param_key


def test_key_is_stable_and_order_independent():
    a = param_key({"seed": 1, "shape": [64, 64, 64], "sigma": 3.0})
    b = param_key({"sigma": 3, "shape": (64, 64, 64), "seed": np.int64(1)})
    assert a == b
    assert param_key({"seed": 2, "shape": [64, 64, 64], "sigma": 3.0}) != a
    assert param_key({"seed": 1, "shape": [64, 64, 64], "sigma": 3.0001}) != a


def test_key_rejects_unhashable_and_nan():
    with pytest.raises(TypeError, match="cannot hash"):
        param_key({"f": object()})
    with pytest.raises(ValueError, match="finite"):
        param_key({"x": float("nan")})


def test_get_or_build_builds_once_and_stores_params(tmp_path):
    cache = Cache(tmp_path)
    calls = []

    def build(p):
        calls.append(p)
        io.write_volume(p, np.ones((2, 3, 4)))

    params = {"seed": 7, "shape": [2, 3, 4]}
    p1 = cache.get_or_build("gt", params, build)
    p2 = cache.get_or_build("gt", params, build)
    assert p1 == p2 and len(calls) == 1
    meta = json.loads(p1.with_suffix(".json").read_text())
    assert meta["params"] == params and meta["stage"] == "gt" and meta["build_seconds"] >= 0
    # a changed parameter never reuses the stale file
    p3 = cache.get_or_build("gt", {"seed": 8, "shape": [2, 3, 4]}, build)
    assert p3 != p1 and len(calls) == 2


def test_failed_build_leaves_nothing_and_retries(tmp_path):
    cache = Cache(tmp_path)

    def bad(p):
        p.write_bytes(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cache.get_or_build("stage", {"a": 1}, bad)
    assert list((tmp_path / "stage").iterdir()) == []
    path = cache.get_or_build("stage", {"a": 1}, lambda p: io.write_volume(p, np.zeros((1, 1, 1))))
    assert io.read_volume(path)[0].shape == (1, 1, 1)


def test_atomic_path_only_publishes_on_success(tmp_path):
    target = tmp_path / "x.bin"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"ok")
        assert not target.exists()
    assert target.read_bytes() == b"ok"


def test_bad_stage_name(tmp_path):
    with pytest.raises(ValueError, match="invalid cache stage"):
        Cache(tmp_path).path_for("../x", {})


def test_published_files_follow_the_umask(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "f") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("damage", ["truncate", "garbage", "old_meta_truncate"])
def test_damaged_artifact_is_reported_and_rebuilt(tmp_path, caplog, damage):
    cache = Cache(tmp_path)
    vol = np.arange(4000, dtype=np.float32).reshape(10, 20, 20)
    calls = []

    def build(p):
        calls.append(p)
        io.write_volume(p, vol)

    path = cache.get_or_build("gt", {"seed": 1}, build)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\0" * len(data))  # same size, no longer HDF5
    else:
        path.write_bytes(data[: len(data) // 2])  # an interrupted copy, a full disk
    if damage == "old_meta_truncate":  # caches written before sizes were recorded: the open check
        meta = json.loads(path.with_suffix(".json").read_text())
        meta.pop("bytes")
        path.with_suffix(".json").write_text(json.dumps(meta))
    caplog.set_level("WARNING", logger="xrsr_lib.io.cache")
    again = cache.get_or_build("gt", {"seed": 1}, build)
    assert again == path and len(calls) == 2
    assert str(path) in caplog.text and "'gt'" in caplog.text and "damaged" in caplog.text
    np.testing.assert_array_equal(io.read_volume(again)[0], vol)


def test_has_says_whether_get_or_build_would_hit(tmp_path):
    cache = Cache(tmp_path)
    params = {"a": 1}
    assert not cache.has("stage", params, suffix=".txt")
    path = cache.get_or_build("stage", params, lambda tmp: tmp.write_text("12345"), suffix=".txt")
    assert cache.has("stage", params, suffix=".txt") and not cache.has("stage", {"a": 2}, suffix=".txt")
    path.write_text("123")  # truncated: get_or_build would rebuild it
    assert not cache.has("stage", params, suffix=".txt")
