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
    with pytest.raises(FileNotFoundError, match="no such file"):
        io.read_volume(tmp_path / "nope.h5")
    io.write_spheres(tmp_path / "s.h5", np.zeros((1, 5)))
    with pytest.raises(KeyError, match="no dataset 'volume'"):
        io.read_volume(tmp_path / "s.h5")


def test_tiff_export(tmp_path):
    import tifffile

    vol = np.random.default_rng(1).random((3, 8, 9)).astype(np.float32)
    io.export_tiff(tmp_path / "v.tif", vol, voxel_size_um=1.0)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "v.tif"), vol)
