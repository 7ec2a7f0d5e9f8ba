"""``xrsr predict`` killed with SIGKILL resumes through the command a user types.

Each run is a subprocess (``python -m xrsr_lib.cli predict ...``); the test-only hook
``XRSR_TEST_KILL_AT`` (:data:`xrsr_lib.infer.block_store.KILL_ENV`) SIGKILLs it at a named point: after
writing a block's output but before recording it (``block:N``), between the pyramid's levels
(``pyramid:1``) and between removing the block records and publishing the store (``publish``).
The same command then completes (also on 2 dask workers) and writes what an uninterrupted run
writes. The resume key holds the input's identity: an input overwritten with other data of the
same shape starts over instead of mixing stale blocks in. A run that fails before it finished a
block leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from xrsr_lib import Recovery
from xrsr_lib.io.omezarr import open_zarr

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ARGS = ["--voxel", "3", "--chunks", "8,24,24"]  # 3 x 2 x 2 = 12 blocks, 2 pyramid levels


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli_resume")
    rng = np.random.default_rng(0)
    hr = gaussian_filter(rng.random((24, 48, 48)), 2).astype(np.float32)
    lr = gaussian_filter(hr, 1.5)
    np.save(folder / "in.npy", lr)
    rec = Recovery.from_preset("srcnn", "smoke", loss_mask="none", iterations=2)
    rec.fit(lr, hr, folder=folder / "model", progress=False)
    run = _predict(folder, folder / "straight.zarr")
    assert run.returncode == 0, run.stderr[-2000:]
    return {
        "folder": folder,
        "model": folder / "model",
        "input": folder / "in.npy",
        "straight": open_zarr(folder / "straight.zarr")[0][...],
    }


def _predict(
    folder: Path, out: Path, *extra: str, kill_at: str | None = None, source: Path | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("XRSR_TEST_KILL_AT", None)
    if kill_at is not None:
        env["XRSR_TEST_KILL_AT"] = kill_at
    cmd = [
        sys.executable,
        "-m",
        "xrsr_lib.cli",
        "--quiet",
        "predict",
        str(folder / "model"),
        str(source or folder / "in.npy"),
        "--out",
        str(out),
        *ARGS,
        *extra,
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _killed(run: subprocess.CompletedProcess) -> bool:
    return run.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("kill_at", "workers"), [("block:3", None), ("pyramid:1", None), ("publish", None), ("block:2", "2")]
)
def test_a_killed_predict_completes_with_the_same_command(case, tmp_path, kill_at, workers):
    out = tmp_path / "o.zarr"
    extra = ("--workers", workers) if workers else ()
    first = _predict(case["folder"], out, kill_at=kill_at)  # killed in this process
    assert _killed(first), first.stderr[-2000:]
    assert not out.exists() and (tmp_path / "o.zarr.partial" / ".xrsr" / "job.json").exists()
    again = _predict(case["folder"], out, *extra)
    assert again.returncode == 0, again.stderr[-2000:]
    np.testing.assert_array_equal(open_zarr(out)[0][...], case["straight"])
    assert open_zarr(out)[1]["levels"] == 2
    assert not (tmp_path / "o.zarr.partial").exists() and not (out / ".xrsr").exists()


def test_a_changed_input_is_not_mixed_with_the_old_blocks(case, tmp_path):
    src = tmp_path / "in.npy"
    np.save(src, np.load(case["input"]))
    out = tmp_path / "o.zarr"
    assert _killed(_predict(case["folder"], out, kill_at="block:2", source=src))
    other = np.load(case["input"])[::-1].copy()  # other data, same path and shape
    np.save(src, other)
    again = _predict(case["folder"], out, source=src)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "changed since the unfinished prediction" in again.stderr
    expected = Recovery.load(case["model"]).predict(other, tile=max(other.shape))
    np.testing.assert_allclose(open_zarr(out)[0][...], expected, rtol=0, atol=2e-6 * np.abs(expected).max())


def test_a_predict_that_fails_before_a_block_leaves_nothing(case, tmp_path):
    bad = np.load(case["input"])
    bad[2, 3, 4] = np.nan  # the first block's region
    np.save(tmp_path / "nan.npy", bad)
    for out in (tmp_path / "o.zarr", tmp_path / "o.tif"):
        run = _predict(case["folder"], out, source=tmp_path / "nan.npy")
        assert run.returncode != 0 and "NaN or infinite values" in run.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.npy"]
