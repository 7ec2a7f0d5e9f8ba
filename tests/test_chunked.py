"""Out-of-core prediction to OME-Zarr: equal to one whole-volume pass, resumable, chunk-aligned on
dask workers, memory bounded by the block and not by the volume, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import xrsr_lib.infer.block_job as block_job
import xrsr_lib.infer.block_store as block_store
import xrsr_lib.infer.chunked as chunked
from xrsr_lib import Recovery
from xrsr_lib.infer.chunked import predict_to_zarr
from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.io.lazy import open_volume
from xrsr_lib.io.omezarr import open_zarr
from xrsr_lib.prepare.pose import Pose
from xrsr_lib.prepare.resample import resample

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A DeepNet and an SRCNN trained briefly on a blurred random texture, and their input as .npy."""
    folder = tmp_path_factory.mktemp("chunked")
    rng = np.random.default_rng(0)
    hr = gaussian_filter(rng.random((24, 72, 72)), 2).astype(np.float32)
    lr = gaussian_filter(hr, 1.5)
    out = {"input": folder / "in.npy"}
    np.save(out["input"], lr)
    for method in ("deepnet", "srcnn"):
        rec = Recovery.from_preset(method, "smoke", loss_mask="none", iterations=3)
        rec.fit(lr, hr, folder=folder / method, progress=False)
        out[method] = folder / method
    return out


@pytest.mark.parametrize("method", ["deepnet", "srcnn"])
@pytest.mark.parametrize("scale", [1, 2])
def test_blocks_equal_one_whole_volume_pass(models, tmp_path, method, scale):
    lr = np.load(models["input"])
    model = LoadedModel.load(models[method])
    x = lr
    if scale != 1:  # the in-memory path: resample the whole volume, then one pass
        x, _ = resample(lr, 3.0, tuple(scale * n for n in lr.shape), 3.0 / scale, Pose(), order=3)
    whole = model.predict(x, tile=max(x.shape))
    res = predict_to_zarr(
        models[method],
        models["input"],
        tmp_path / "out.zarr",
        scale=scale,
        voxel_size_um=3.0,
        chunks=(8, 32, 32),
        block=(8, 32, 32),
        progress=False,
    )
    arr, meta = open_zarr(tmp_path / "out.zarr")
    assert res["blocks"] > 4 and arr.shape == whole.shape
    assert meta["voxel_size_um"] == pytest.approx(3.0 / scale)
    # float32 rounding of different convolution sizes only; a halo one voxel short breaks this (below)
    np.testing.assert_allclose(arr[...], whole, rtol=0, atol=2e-6 * np.abs(whole).max())
    assert not (tmp_path / "out.zarr.partial").exists()


def test_a_halo_too_small_is_not_equal(models, tmp_path):
    """The equality above is not automatic: without enough context the block edges differ."""
    lr = np.load(models["input"])
    whole = LoadedModel.load(models["srcnn"]).predict(lr, tile=max(lr.shape))
    predict_to_zarr(
        models["srcnn"],
        models["input"],
        tmp_path / "o.zarr",
        voxel_size_um=3.0,
        chunks=(8, 32, 32),
        halo=1,
        progress=False,
    )
    assert np.abs(open_zarr(tmp_path / "o.zarr")[0][...] - whole).max() > 1e-4 * np.abs(whole).max()


def test_region_of_interest_uses_the_context_around_it(models, tmp_path):
    lr = np.load(models["input"])
    whole = LoadedModel.load(models["srcnn"]).predict(lr, tile=max(lr.shape))
    roi = (slice(4, 20), slice(8, 40), slice(16, 72))
    predict_to_zarr(
        models["srcnn"],
        models["input"],
        tmp_path / "r.zarr",
        roi=roi,
        voxel_size_um=3.0,
        chunks=16,
        progress=False,
    )
    np.testing.assert_allclose(open_zarr(tmp_path / "r.zarr")[0][...], whole[roi], atol=2e-6)


def test_the_output_grid_is_placed_in_the_input_frame(models, tmp_path):
    """Output voxel j of a 3x finer grid sits at input index (j - 1) / 3 (voxel centres aligned), so a
    9 µm input gives level 0 a translation of -3 µm, and a --roi output starts at its region: read
    back by ome-zarr-py, as napari places it."""
    from ome_zarr.io import parse_url  # the dev extra's independent reader
    from ome_zarr.reader import Reader

    roi = (slice(4, 12), slice(8, 24), slice(16, 40))
    predict_to_zarr(
        models["srcnn"],
        models["input"],
        tmp_path / "r.zarr",
        roi=roi,
        scale=3,
        voxel_size_um=9.0,
        chunks=24,
        progress=False,
    )
    image = next(iter(Reader(parse_url(str(tmp_path / "r.zarr")))()))
    assert image.data[0].shape == (24, 48, 72)
    for k, transforms in enumerate(image.metadata["coordinateTransformations"]):
        kinds = {t["type"]: t for t in transforms}
        assert kinds["scale"]["scale"] == [3.0 * 2**k] * 3
        # input voxel i at i * 9 µm; output voxel 0 of the region: input index start + (0 - 1) / 3
        first = [9.0 * (r.start + (0 - 1) / 3) for r in roi]
        assert kinds["translation"]["translation"] == pytest.approx([f + 3.0 * (2**k - 1) / 2 for f in first])


def test_the_recovery_device_reaches_the_block_workers(models, tmp_path, monkeypatch):
    """``Recovery(device=...)`` is the device every block runs on; the device is not part of the job key."""
    seen = []
    real = block_store.predict_block
    monkeypatch.setattr(
        block_store, "predict_block", lambda job, region: (seen.append(job.device), real(job, region))[1]
    )
    rec = Recovery.load(models["srcnn"], device="cpu")
    rec.predict_to_zarr(
        models["input"], tmp_path / "d.zarr", voxel_size_um=3.0, chunks=(24, 72, 72), progress=False
    )
    assert seen == ["cpu"]
    job, _ = chunked.plan_prediction(
        models["srcnn"], open_volume(models["input"]), tmp_path / "w", device="cpu"
    )
    assert (
        job.key()
        == chunked.plan_prediction(models["srcnn"], open_volume(models["input"]), tmp_path / "w")[0].key()
    )


def test_an_interrupted_prediction_resumes_from_its_finished_blocks(models, tmp_path, monkeypatch):
    out = tmp_path / "lfov.zarr"
    kwargs = {"voxel_size_um": 3.0, "chunks": (8, 24, 24), "progress": False}
    run_block = chunked.run_block
    calls = {"n": 0}

    def dies_after_five(job, region):
        if calls["n"] == 5:
            raise KeyboardInterrupt  # as a Ctrl-C or a killed job would
        calls["n"] += 1
        return run_block(job, region)

    monkeypatch.setattr(chunked, "run_block", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        predict_to_zarr(models["srcnn"], models["input"], out, **kwargs)
    # never a partial output under the final name
    assert not out.exists() and (tmp_path / "lfov.zarr.partial").exists()
    monkeypatch.setattr(chunked, "run_block", run_block)
    res = predict_to_zarr(models["srcnn"], models["input"], out, **kwargs)
    assert res["blocks_resumed"] == 5 and res["blocks"] == 27
    predict_to_zarr(models["srcnn"], models["input"], tmp_path / "straight.zarr", **kwargs)
    np.testing.assert_array_equal(open_zarr(out)[0][...], open_zarr(tmp_path / "straight.zarr")[0][...])


def test_a_partial_output_of_another_prediction_is_not_resumed(models, tmp_path, monkeypatch):
    out = tmp_path / "o.zarr"
    monkeypatch.setattr(chunked, "run_block", lambda job, region: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        predict_to_zarr(models["srcnn"], models["input"], out, voxel_size_um=3.0, progress=False)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="unfinished prediction with other settings"):
        predict_to_zarr(models["srcnn"], models["input"], out, scale=2, voxel_size_um=3.0, progress=False)


def test_the_split_modules_names_are_importable_from_chunked():
    """``infer.chunked`` still offers every name it offered before the block_* modules (same objects)."""
    before = {
        "SPLINE_MARGIN",
        "TRUST_IMAGE",
        "PredictionJob",
        "TrustPerBlock",
        "input_identity",
        "plan_prediction",
        "predict_block",
        "predict_block_trust",
        "predict_to_zarr",
    }
    assert set(chunked.__all__) == before
    from xrsr_lib.infer import block_predict

    for module in (block_job, block_predict, block_store):
        for name in before & set(module.__all__):
            assert getattr(chunked, name) is getattr(module, name), name


def test_bad_input_is_refused_with_its_reason(models, tmp_path):
    src = models["input"]
    (tmp_path / "exists.zarr").mkdir()
    with pytest.raises(FileExistsError, match="exists.zarr exists"):
        predict_to_zarr(models["srcnn"], src, tmp_path / "exists.zarr", voxel_size_um=3.0)
    with pytest.raises(ValueError, match="no voxel size"):
        predict_to_zarr(models["srcnn"], src, tmp_path / "a.zarr")
    with pytest.raises(ValueError, match="whole multiple of the chunks"):
        predict_to_zarr(models["srcnn"], src, tmp_path / "b.zarr", voxel_size_um=3, chunks=16, block=24)
    with pytest.raises(ValueError, match="roi x range 60:90 lies outside"):
        predict_to_zarr(
            models["srcnn"],
            src,
            tmp_path / "c.zarr",
            voxel_size_um=3,
            roi=(slice(0, 8), slice(0, 8), slice(60, 90)),
        )
    bad = np.load(src)
    bad[20, 70, 70] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"nan.npy: NaN or infinite values in the region"):
        predict_to_zarr(
            models["srcnn"], tmp_path / "nan.npy", tmp_path / "d.zarr", voxel_size_um=3, progress=False
        )
    assert not (tmp_path / "d.zarr").exists()
    for name in ("a", "b", "c"):
        assert not (tmp_path / f"{name}.zarr").exists()


def test_two_dask_workers_write_what_one_process_writes(models, tmp_path):
    distributed = pytest.importorskip("distributed")
    kwargs = {
        "scale": 2,
        "voxel_size_um": 3.0,
        "chunks": (16, 48, 48),
        "block": (16, 48, 48),
        "progress": False,
    }
    predict_to_zarr(models["deepnet"], models["input"], tmp_path / "one.zarr", **kwargs)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = predict_to_zarr(
            models["deepnet"], models["input"], tmp_path / "two.zarr", client=client, **kwargs
        )
        used = client.run(lambda: len(block_job._MODELS))  # each worker loaded the model itself
    assert res["blocks"] >= 4 and sum(used.values()) == 2
    np.testing.assert_array_equal(
        open_zarr(tmp_path / "two.zarr")[0][...], open_zarr(tmp_path / "one.zarr")[0][...]
    )


_RSS_SCRIPT = textwrap.dedent("""
    import json, sys, torch
    torch.set_num_threads(1)  # 2 spinning threads on 2 shared cores ran 50x slower
    from xrsr_lib.infer.chunked import plan_prediction, predict_block, predict_to_zarr
    from xrsr_lib.io.lazy import open_volume

    def rss(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024

    model, src, out = sys.argv[1:4]
    kw = {"chunks": (16, 128, 128), "block": (16, 256, 256)}
    job, _ = plan_prediction(model, open_volume(src), out + ".warm", **kw)
    # warm-up: exactly one block with its halo on both sides in z (the largest a run computes), no more
    predict_block(job, (slice(16, 32), slice(0, 256), slice(0, 256)))
    import zarr  # noqa: F401  (imported by the run; not a growth of the run)
    base = rss("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:  # reset the high-water mark (VmHWM) to the current RSS
        f.write("5")
    res = predict_to_zarr(model, src, out, voxel_size_um=2.0, progress=False, **kw)
    print(json.dumps({"base": base, "peak": rss("VmHWM"), **res}))
""")


def _peak_growth(model: Path, folder: Path, shape: tuple[int, int, int]) -> dict:
    """Recover a random float32 volume of ``shape`` (written slab by slab) in a fresh process; its RSS
    before the run (after a one-block warm-up) and its high-water mark during the run, bytes."""
    src = np.lib.format.open_memmap(folder / "in.npy", mode="w+", dtype=np.float32, shape=shape)
    rng = np.random.default_rng(1)
    for z in range(0, shape[0], 16):
        src[z : z + 16] = rng.random((16, *shape[1:]), dtype=np.float32)
    src.flush()
    del src
    argv = [str(model), str(folder / "in.npy"), str(folder / "out.zarr")]
    # glibc's malloc returns every allocation over 1 MiB to the system when it is freed: the RSS then
    # follows the memory in use, not what the allocator's pools happen to retain from earlier blocks
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "1048576", "MALLOC_ARENA_MAX": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, *argv], capture_output=True, text=True, timeout=900, env=env
    )
    assert run.returncode == 0, run.stderr[-2000:]
    res = json.loads(run.stdout.strip().splitlines()[-1])
    arr, _ = open_zarr(folder / "out.zarr")
    assert arr.shape == shape and np.isfinite(np.asarray(arr[-16:, -64:, -64:])).all()
    return {**res, "nbytes": open_volume(folder / "in.npy").nbytes, "grown": res["peak"] - res["base"]}


@pytest.mark.slow
def test_peak_memory_is_set_by_the_block_not_by_the_volume(models, tmp_path):
    """Volumes of 12 and 60 MiB on disk (3 and 15 blocks of 16 x 256 x 256) are recovered by
    processes whose memory peaks at the same height, within a few MiB.

    Each run is a fresh process warmed up by exactly one block, one with context on both sides (so
    the model and the libraries are in place), whose high-water mark is then reset: what the run
    adds on top is the block's transient memory, which must not depend on the volume. Holding the
    whole input or a whole output buffer would add 48 MiB each to the larger run. (The volumes grow in
    z only, so their blocks have the same shapes, halos included.)"""
    runs = {}
    for name, shape in {"small": (48, 256, 256), "large": (240, 256, 256)}.items():
        (tmp_path / name).mkdir()
        runs[name] = _peak_growth(models["deepnet"], tmp_path / name, shape)
        r = runs[name]
        print(
            f"{name}: volume {r['nbytes'] / 2**20:.0f} MiB in {r['blocks']} blocks, process grew by "
            f"{r['grown'] / 2**20:.1f} MiB (baseline {r['base'] / 2**20:.0f} MiB), "
            f"{r['voxels_per_second'] / 1e6:.2f} Mvoxel/s"
        )
    small, large = runs["small"], runs["large"]
    assert large["blocks"] == 5 * small["blocks"] and large["nbytes"] - small["nbytes"] == 48 * 2**20
    assert abs(large["grown"] - small["grown"]) < 12 * 2**20  # measured 3.5-4.9 MiB apart; one buffer: 48
    assert large["grown"] < 64 * 2**20  # one block: its input, output and activations (measured ~44 MiB)
