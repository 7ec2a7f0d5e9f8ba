import numpy as np
import pytest

from xrsr_lib import io


def test_volume_roundtrip_with_attributes(tmp_path):
    vol = np.random.default_rng(0).random((5, 6, 7)).astype(np.float32)
    io.write_volume(tmp_path / "v.h5", vol, {"seed": 3, "shape": [5, 6, 7], "units": "x", "geom": {"a": 1}})
    back, attrs = io.read_volume(tmp_path / "v.h5")
    np.testing.assert_array_equal(back, vol)
    assert attrs == {"seed": 3, "shape": [5, 6, 7], "units": "x", "geom": {"a": 1}}


def test_spheres_roundtrip_pelt_layout(tmp_path):
    s = np.arange(20, dtype=np.float32).reshape(4, 5)
    io.write_spheres(tmp_path / "s.h5", s, {"seed": 1})
    back, attrs = io.read_spheres(tmp_path / "s.h5")
    np.testing.assert_array_equal(back, s)
    import h5py

    with h5py.File(tmp_path / "s.h5") as f:
        assert f["spheres"].shape == (20,)  # flat, as foam_ct_phantom writes it


def test_reads_reference_files(reference_dir):
    spheres, attrs = io.read_spheres(reference_dir / "pelt_small_phantom.h5")
    assert spheres.shape == (1500, 5) and attrs["seed"] == 12345
    vol, vattrs = io.read_volume(reference_dir / "pelt_small_volume.h5")
    assert vol.shape == (64, 64, 64) and vattrs["volgeom_supersampling"] == 2


@pytest.mark.parametrize(
    "arr, msg",
    [
        (np.zeros((4, 4)), "must be 3-D"),
        (np.zeros((0, 4, 4)), "empty"),
        (np.full((2, 2, 2), np.nan), "NaN"),
        (np.zeros((2, 2, 2), dtype=complex), "real numbers"),
    ],
)
def test_bad_volumes_are_rejected(tmp_path, arr, msg):
    with pytest.raises(ValueError, match=msg):
        io.write_volume(tmp_path / "bad.h5", arr)
    assert not (tmp_path / "bad.h5").exists()


def test_cubic_check():
    io.check_volume(np.zeros((4, 4, 4)), cubic=True)
    with pytest.raises(ValueError, match=r"must be cubic .* \(4, 4, 5\)"):
        io.check_volume(np.zeros((4, 4, 5)), cubic=True)


def test_missing_file_and_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such volume file: .*nope.h5"):
        io.read_volume(tmp_path / "nope.h5")
    io.write_spheres(tmp_path / "s.h5", np.zeros((1, 5)))
    with pytest.raises(ValueError, match="s.h5: no dataset 'volume' and 0 3-D datasets"):
        io.read_volume(tmp_path / "s.h5")
    with pytest.raises(KeyError, match="no dataset 'other'"):
        io.read_volume(tmp_path / "s.h5", dataset="other")


def test_tiff_export(tmp_path):
    import tifffile

    vol = np.random.default_rng(1).random((3, 8, 9)).astype(np.float32)
    io.export_tiff(tmp_path / "v.tif", vol, voxel_size_um=1.0)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "v.tif"), vol)


@pytest.mark.parametrize("name", ["v.tif", "v.tiff", "v.h5", "v.npy"])
def test_volume_formats_roundtrip_with_voxel_size(tmp_path, name):
    vol = np.random.default_rng(2).random((4, 6, 5)).astype(np.float32)
    io.write_volume(tmp_path / name, vol, voxel_size_um=2.5)
    back, meta = io.read_volume(tmp_path / name)
    np.testing.assert_array_equal(back, vol)
    if not name.endswith(".npy"):  # NumPy files carry no metadata
        assert meta["voxel_size_um"] == pytest.approx(2.5)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_npy_is_memory_mapped_and_integer_tiff_keeps_its_dtype(tmp_path):
    import tifffile

    np.save(tmp_path / "v.npy", np.ones((3, 4, 5), np.uint16))
    vol, _ = io.read_volume(tmp_path / "v.npy")
    assert isinstance(vol, np.memmap) and vol.dtype == np.uint16
    u16 = np.arange(60, dtype=np.uint16).reshape(3, 4, 5)
    tifffile.imwrite(tmp_path / "u.tif", u16, photometric="minisblack")
    vol, meta = io.read_volume(tmp_path / "u.tif")
    assert vol.dtype == np.uint16 and vol.shape == (3, 4, 5) and "voxel_size_um" not in meta


def test_hdf5_any_dataset(tmp_path):
    import h5py

    vol = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f.create_dataset("entry/data/data", data=vol)
        f.create_dataset("entry/flat", data=np.ones((4, 5)))
    np.testing.assert_array_equal(io.read_volume(tmp_path / "scan.h5")[0], vol)  # the only 3-D dataset
    np.testing.assert_array_equal(io.read_volume(tmp_path / "scan.h5", dataset="entry/data/data")[0], vol)
    np.testing.assert_array_equal(io.read_volume(f"{tmp_path / 'scan.h5'}:entry/data/data")[0], vol)
    with pytest.raises(ValueError, match="must be 3-D"):
        io.read_volume(tmp_path / "scan.h5", dataset="entry/flat")


def test_bad_volume_files_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"v.xyz: unknown volume format '.xyz'"):
        io.read_volume(tmp_path / "v.xyz") if (tmp_path / "v.xyz").write_bytes(b"x") else None
    with pytest.raises(ValueError, match="must be 3-D"):
        io.write_volume(tmp_path / "flat.tif", np.zeros((4, 5)))
    bad = np.zeros((2, 3, 4), np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="contains NaN"):
        io.write_volume(tmp_path / "nan.h5", bad)
    assert not (tmp_path / "flat.tif").exists() and not (tmp_path / "nan.h5").exists()
