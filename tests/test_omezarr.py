"""Zarr / OME-Zarr volumes and region-wise reads: the metadata viewers need, a pyramid whose
levels are the 2× means of the level above, the voxel size carried by every format."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from xrsr_lib import open_volume, read_volume, write_volume
from xrsr_lib.io.omezarr import (
    build_pyramid,
    create_ome_zarr,
    downsample_mean,
    open_zarr,
    pyramid_shapes,
    write_ome_zarr,
)


def test_ome_zarr_metadata_is_ngff_0_4_with_voxel_sizes_per_level(tmp_path):
    vol = np.random.default_rng(0).random((40, 50, 70), dtype=np.float32)
    write_ome_zarr(tmp_path / "v.zarr", vol, voxel_size_um=3.0, chunks=16, attrs={"model": "m"})
    import zarr

    group = zarr.open_group(str(tmp_path / "v.zarr"), mode="r")
    ms = group.attrs["multiscales"][0]
    assert ms["version"] == "0.4" and [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    assert all(a["unit"] == "micrometer" for a in ms["axes"])
    shapes = pyramid_shapes(vol.shape, 16)
    assert [d["path"] for d in ms["datasets"]] == [str(k) for k in range(len(shapes))]
    for k, d in enumerate(ms["datasets"]):
        assert group[d["path"]].shape == shapes[k]
        scale = d["coordinateTransformations"][0]["scale"]
        assert scale == [3.0 * 2**k] * 3
        # level-k voxel 0 is the mean of level-0 voxels 0 .. 2^k - 1: centred at (2^k - 1)/2 voxels
        assert d["coordinateTransformations"][1]["translation"] == [3.0 * (2**k - 1) / 2] * 3
    assert group.attrs["xrsr"] == {"voxel_size_um": 3.0, "origin_um": [0.0, 0.0, 0.0], "model": "m"}
    arr, meta = open_zarr(tmp_path / "v.zarr")
    np.testing.assert_array_equal(arr[...], vol)
    assert meta["voxel_size_um"] == 3.0 and meta["levels"] == len(shapes)


def test_pyramid_levels_are_block_means_also_for_odd_sides(tmp_path):
    z, y, x = np.meshgrid(np.arange(9), np.arange(6), np.arange(5), indexing="ij")
    ramp = (z + 10 * y + 100 * x).astype(np.float32)  # a linear ramp: 2x2x2 means are known exactly
    level1 = downsample_mean(ramp)
    assert level1.shape == (5, 3, 3)
    assert level1[0, 0, 0] == pytest.approx(0.5 + 5 + 50)  # mean of indices {0,1} on each axis
    assert level1[4, 2, 2] == pytest.approx(8 + 10 * 4.5 + 100 * 4)  # odd sides: the last voxel alone
    group = create_ome_zarr(tmp_path / "p.zarr", (64, 48, 40), 1.0, chunks=8)
    vol = np.random.default_rng(1).random((64, 48, 40)).astype(np.float32)
    group["0"][...] = vol
    n = build_pyramid(group, min_side=8)
    assert n == len(pyramid_shapes(vol.shape, 8))
    np.testing.assert_allclose(
        group["1"][...], vol.reshape(32, 2, 24, 2, 20, 2).mean(axis=(1, 3, 5)), rtol=1e-6
    )
    np.testing.assert_allclose(group["2"][...], downsample_mean(downsample_mean(vol)), rtol=1e-6)


def test_write_volume_to_zarr_is_atomic_and_needs_a_voxel_size(tmp_path):
    vol = np.ones((8, 8, 8), np.float32)
    with pytest.raises(ValueError, match="needs voxel_size_um"):
        write_volume(tmp_path / "a.zarr", vol)
    with pytest.raises(ValueError, match="NaN"):
        write_volume(tmp_path / "a.zarr", np.full((8, 8, 8), np.nan, np.float32), voxel_size_um=1.0)
    assert not (tmp_path / "a.zarr").exists() and not list(tmp_path.iterdir())
    write_volume(tmp_path / "a.zarr", vol, voxel_size_um=2.0)
    write_volume(tmp_path / "a.zarr", 2 * vol, voxel_size_um=2.0)  # replaced whole
    out, meta = read_volume(tmp_path / "a.zarr")
    assert out.max() == 2 and meta["voxel_size_um"] == 2.0


def test_plain_zarr_arrays_are_read_and_bad_stores_named(tmp_path):
    import zarr

    a = zarr.create_array(str(tmp_path / "plain.zarr"), shape=(4, 5, 6), chunks=(2, 5, 6), dtype="uint16")
    a[...] = np.arange(120, dtype=np.uint16).reshape(4, 5, 6)
    a.attrs["voxel_size_um"] = 0.7
    vol, meta = read_volume(tmp_path / "plain.zarr")
    assert vol.dtype == np.uint16 and vol[3, 4, 5] == 119 and meta["voxel_size_um"] == 0.7
    zarr.create_array(str(tmp_path / "flat.zarr"), shape=(4, 5), dtype="f4")
    with pytest.raises(ValueError, match="flat.zarr: the array has 2 dimensions"):
        open_zarr(tmp_path / "flat.zarr")
    with pytest.raises(FileNotFoundError, match="no such Zarr store"):
        read_volume(tmp_path / "missing.zarr")
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(ValueError, match="empty.zarr"):
        open_volume(tmp_path / "empty.zarr")


def test_ome_tiff_voxel_size_is_read(tmp_path):
    vol = np.zeros((3, 4, 5), np.float32)
    tifffile.imwrite(
        tmp_path / "v.ome.tif",
        vol,
        metadata={"axes": "ZYX", "PhysicalSizeX": 0.5, "PhysicalSizeZ": 0.5, "PhysicalSizeZUnit": "µm"},
    )
    assert read_volume(tmp_path / "v.ome.tif")[1]["voxel_size_um"] == pytest.approx(0.5)
    tifffile.imwrite(
        tmp_path / "nm.ome.tif",
        vol,
        metadata={"axes": "ZYX", "PhysicalSizeZ": 700, "PhysicalSizeZUnit": "nm"},
    )
    assert open_volume(tmp_path / "nm.ome.tif").metadata["voxel_size_um"] == pytest.approx(0.7)


@pytest.mark.parametrize("name", ["v.tif", "v.h5", "v.npy", "v.zarr", "v_u16.tif"])
def test_regions_read_lazily_equal_the_whole_volume(tmp_path, name):
    rng = np.random.default_rng(2)
    vol = rng.random((12, 20, 16)).astype(np.float32)
    if name == "v_u16.tif":
        vol = (vol * 60000).astype(np.uint16)
        tifffile.imwrite(
            tmp_path / name,
            vol,
            imagej=True,
            resolution=(1, 1),
            metadata={"axes": "ZYX", "spacing": 2.5, "unit": "um"},
        )
    else:
        write_volume(tmp_path / name, vol, voxel_size_um=2.5)
    lazy = open_volume(tmp_path / name)
    assert lazy.shape == (12, 20, 16)
    if name != "v.npy":  # a .npy file carries no voxel size
        assert lazy.metadata["voxel_size_um"] == pytest.approx(2.5)
    region = (slice(3, 9), slice(0, 20), slice(5, 11))
    np.testing.assert_array_equal(lazy.read(region), vol[region].astype(np.float32))
    import pickle

    assert pickle.loads(pickle.dumps(lazy)).read(region).shape == (6, 20, 6)  # travels to dask workers


def test_a_nan_in_the_region_read_is_named(tmp_path):
    vol = np.zeros((6, 6, 6), np.float32)
    vol[5, 5, 5] = np.nan
    np.save(tmp_path / "n.npy", vol)
    lazy = open_volume(tmp_path / "n.npy")
    assert lazy.read((slice(0, 3), slice(0, 6), slice(0, 6))).sum() == 0  # the NaN is elsewhere
    with pytest.raises(ValueError, match=r"n.npy: NaN or infinite values in the region z,y,x = 3:6,0:6,0:6"):
        lazy.read((slice(3, 6), slice(0, 6), slice(0, 6)))


def test_an_independent_reader_sees_axes_units_scales_translations_and_shapes(tmp_path):
    """ome-zarr-py (the reader napari-ome-zarr uses) reads what xrsr writes: NGFF 0.4, axes z, y, x
    in micrometres, per level the voxel size and the position of voxel 0 (level 0 included), and
    the pyramid's shapes."""
    from ome_zarr.io import parse_url  # the dev extra's independent reader
    from ome_zarr.reader import Reader

    origin = (-3.0, 69.0, 141.0)
    group = create_ome_zarr(tmp_path / "v.zarr", (20, 30, 40), 3.0, chunks=8, origin_um=origin)
    group["0"][...] = np.random.default_rng(2).random((20, 30, 40), dtype=np.float32)
    levels = build_pyramid(group, min_side=8)
    location = parse_url(str(tmp_path / "v.zarr"))
    assert location.version == "0.4"
    image = next(iter(Reader(location)()))
    meta = image.metadata
    axes = [(a["name"], a["type"], a["unit"]) for a in meta["axes"]]
    assert axes == [(a, "space", "micrometer") for a in "zyx"]
    assert [tuple(d.shape) for d in image.data] == pyramid_shapes((20, 30, 40), 8)
    assert len(image.data) == levels
    for k, transforms in enumerate(meta["coordinateTransformations"]):
        kinds = {t["type"]: t for t in transforms}
        assert kinds["scale"]["scale"] == [3.0 * 2**k] * 3
        assert kinds["translation"]["translation"] == [o + 3.0 * (2**k - 1) / 2 for o in origin]
    np.testing.assert_array_equal(np.asarray(image.data[0]), group["0"][...])
