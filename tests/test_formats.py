"""Volumes as instruments and their software write them, each written here by an independent writer
(tifffile, PIL, SimpleITK, NumPy, an OLE2 writer of ZEISS's stream layout) and read through
``open_volume``: shape, dtype, voxel size, lazy regions, and the bad variants named."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from xrsr_lib.io import read_volume, write_volume
from xrsr_lib.io.lazy import open_volume
from xrsr_lib.io.raw import RawSpec
from xrsr_lib.io.voxels import resolve_voxel_size

REGION = (slice(2, 5), slice(3, 9), slice(1, 6))


def _vol(dtype=np.uint16, shape=(7, 10, 8), seed=0):
    v = np.random.default_rng(seed).random(shape)
    return (v * {np.uint8: 250, np.uint16: 60000}.get(dtype, 1)).astype(dtype)


def _tiff_slices(folder, vol, name="rec_{}.tif", voxel=None):
    folder.mkdir(parents=True, exist_ok=True)
    for i, plane in enumerate(vol):
        kw = {}
        if voxel is not None:
            kw = {"imagej": True, "resolution": (1 / voxel, 1 / voxel), "metadata": {"unit": "um"}}
        tifffile.imwrite(folder / name.format(i), plane, **kw)


def _check(lazy, vol, voxel):
    assert lazy.shape == vol.shape and lazy.dtype == vol.dtype
    if voxel is None:
        assert "voxel_size_um" not in lazy.metadata
    else:
        assert lazy.metadata["voxel_size_um"] == pytest.approx(voxel, rel=1e-5)
    np.testing.assert_array_equal(lazy.read_native(), vol)
    np.testing.assert_array_equal(lazy.read(REGION), vol[REGION].astype(np.float32))
    import pickle

    assert pickle.loads(pickle.dumps(lazy)).read(REGION).shape == vol[REGION].shape  # to dask workers


# ------------------------------------------------------------------------------------ slice folders
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_tiff_slice_folder_natural_order_voxel_size_and_regions(tmp_path, dtype):
    vol = _vol(dtype, (12, 10, 8))
    _tiff_slices(tmp_path / "scan", vol, "rec_{}.tif", voxel=2.5)  # rec_2 before rec_10, unpadded
    lazy = open_volume(tmp_path / "scan")
    _check(lazy, vol, 2.5)
    assert lazy.fmt == "slices" and str(lazy) == str(tmp_path / "scan")
    back, meta = read_volume(tmp_path / "scan")
    np.testing.assert_array_equal(back, vol)
    # a region opens only its own slices: removing another slice does not disturb it
    (tmp_path / "scan" / "rec_11.tif").unlink()
    np.testing.assert_array_equal(lazy.read(REGION), vol[REGION].astype(np.float32))


def test_png_slices_with_a_bruker_log_and_a_glob(tmp_path):
    from PIL import Image

    vol = _vol(np.uint8, (6, 10, 8))
    scan = tmp_path / "bruker"
    scan.mkdir()
    for i, plane in enumerate(vol):
        Image.fromarray(plane).save(scan / f"sample_rec{i:08d}.png")
    Image.fromarray(vol[0][:5]).save(scan / "sample_spr.png")  # the preview NRecon writes beside them
    (scan / "sample_rec.log").write_text(
        "[System]\nScanner=Skyscan1272\n[Acquisition]\nImage Pixel Size (um)="
        "4.5\n[Reconstruction]\nReconstruction Program=NRecon\n"
        "Pixel Size (um)=9.000000\n"
    )
    for path in (scan, f"{scan}/*_rec*.png"):
        lazy = open_volume(path)
        _check(lazy, vol, 9.0)
        assert lazy.metadata["voxel_size_source"].endswith("sample_rec.log")


def test_bmp_and_16_bit_png_slices(tmp_path):
    from PIL import Image

    vol = _vol(np.uint8, (4, 10, 8))
    (tmp_path / "b").mkdir()
    for i, plane in enumerate(vol):
        Image.fromarray(plane).save(tmp_path / "b" / f"s{i}.bmp")
    _check(open_volume(tmp_path / "b"), vol, None)
    vol16 = _vol(np.uint16, (4, 10, 8))
    (tmp_path / "p").mkdir()
    for i, plane in enumerate(vol16):
        Image.fromarray(plane).save(tmp_path / "p" / f"s{i}.png")
    _check(open_volume(tmp_path / "p"), vol16, None)


def test_slice_folders_refuse_mixed_shapes_types_and_gaps(tmp_path):
    vol = _vol(np.uint16, (6, 10, 8))
    _tiff_slices(tmp_path / "shape", vol, "r{:03d}.tif")
    tifffile.imwrite(tmp_path / "shape" / "r004.tif", vol[4, :9])
    with pytest.raises(ValueError, match=r"r004.tif is 8 x 9 uint16, unlike the first slice r000.tif"):
        open_volume(tmp_path / "shape")
    _tiff_slices(tmp_path / "type", vol, "r{:03d}.tif")
    tifffile.imwrite(tmp_path / "type" / "r003.tif", vol[3].astype(np.float32))
    with pytest.raises(ValueError, match=r"r003.tif is 8 x 10 float32, unlike"):
        open_volume(tmp_path / "type")
    _tiff_slices(tmp_path / "gap", vol, "r{:03d}.tif")
    (tmp_path / "gap" / "r002.tif").unlink()
    with pytest.raises(ValueError, match=r"gap: slice r002.tif is missing"):
        open_volume(tmp_path / "gap")
    with pytest.raises(FileNotFoundError, match="no slice files"):
        open_volume(tmp_path / "nothing*.tif")


def test_slice_folder_writer_round_trip(tmp_path):
    vol = _vol(np.float32, (5, 10, 8))
    write_volume(tmp_path / "out", vol, voxel_size_um=3.0)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"out_{i:04d}.tif" for i in range(5)]
    with tifffile.TiffFile(tmp_path / "out" / "out_0003.tif") as tif:  # what Fiji / Avizo read
        assert tif.imagej_metadata["unit"] == "um"
        np.testing.assert_array_equal(tif.asarray(), vol[3])
    _check(open_volume(tmp_path / "out"), vol, 3.0)
    with pytest.raises(FileExistsError, match="out exists"):
        write_volume(tmp_path / "out", vol, voxel_size_um=3.0)


# ------------------------------------------------------------------------------------ SimpleITK formats
@pytest.mark.parametrize("name", ["v.mhd", "v.mha", "v.nrrd", "v.nii", "v.nii.gz"])
def test_itk_formats_with_spacing(tmp_path, name):
    import SimpleITK as sitk

    vol = _vol(np.uint16)
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.009, 0.009, 0.009))  # mm, as ITK writes it: 9 µm
    sitk.WriteImage(img, str(tmp_path / name))
    lazy = open_volume(tmp_path / name)
    _check(lazy, vol, 9.0)
    assert lazy.metadata["streaming"] == (name in ("v.mhd", "v.mha", "v.nii"))


def test_itk_writer_and_bad_itk_files(tmp_path):
    import SimpleITK as sitk

    vol = _vol(np.float32)
    write_volume(tmp_path / "w.mhd", vol, voxel_size_um=3.0)
    img = sitk.ReadImage(str(tmp_path / "w.mhd"))  # the independent reader
    assert img.GetSpacing() == pytest.approx((0.003,) * 3)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), vol)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.mhd", "w.raw"]
    # truncated data behind a header; an anisotropic spacing; a 2-D image
    raw = tmp_path / "w.raw"
    raw.write_bytes(raw.read_bytes()[:100])
    with pytest.raises((ValueError, RuntimeError)):
        open_volume(tmp_path / "w.mhd").read()
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.003, 0.003, 0.006))
    sitk.WriteImage(img, str(tmp_path / "aniso.nrrd"))
    lazy = open_volume(tmp_path / "aniso.nrrd")
    with pytest.raises(ValueError, match=r"aniso.nrrd has anisotropic voxels 6 x 3 x 3 µm"):
        resolve_voxel_size(lazy.metadata, lazy)
    sitk.WriteImage(sitk.GetImageFromArray(vol[0]), str(tmp_path / "flat.nrrd"))
    with pytest.raises(ValueError, match=r"flat.nrrd is a 2-D image; a volume is needed"):
        open_volume(tmp_path / "flat.nrrd")


# ------------------------------------------------------------------------------------ raw and .vgi
def test_raw_volume_with_a_layout_and_a_vgi(tmp_path):
    vol = _vol(np.uint16)
    vol.tofile(tmp_path / "scan.raw")
    spec = RawSpec.parse("7,10,8", "uint16")
    lazy = open_volume(tmp_path / "scan.raw", raw=spec)
    _check(lazy, vol, None)
    assert resolve_voxel_size(lazy.metadata, lazy, 9.0) == 9.0
    with pytest.raises(ValueError, match=r"scan.raw is a raw volume without a header: give its layout"):
        open_volume(tmp_path / "scan.raw")
    with pytest.raises(ValueError, match=r"scan.raw has 1120 bytes; 7 x 10 x 9 voxels of uint16 need 1260"):
        open_volume(tmp_path / "scan.raw", raw=RawSpec.parse("7,10,9", "uint16"))
    with pytest.raises(ValueError, match="--raw-shape must be three"):
        RawSpec.parse("7,10", "uint16")
    (tmp_path / "scan.vgi").write_text(
        "{volume1}\n[representation]\nsize = 8 10 7\ndatatype = unsigned integer\nbitsperelement = 16\n"
        "[file1]\nSkipHeader = 0\nFileFormat = raw\nSize = 8 10 7\nName = scan.raw\n"
        "Datatype = unsigned integer\nBitsPerElement = 16\n{volumeprimitive12}\n[geometry]\n"
        "resolution = 0.0045 0.0045 0.0045\nunit = mm\n"
    )
    _check(open_volume(tmp_path / "scan.vgi"), vol, 4.5)


# ------------------------------------------------------------------------------------ ZEISS .txm / .txrm
def test_txm_read_and_cross_checked_with_txrm2tiff(tmp_path):
    from _ole import write_txm

    vol = _vol(np.uint16, (105, 12, 9))  # > 100 slices: the second ImageData storage
    write_txm(tmp_path / "scan.txm", vol, 0.75)
    lazy = open_volume(tmp_path / "scan.txm")
    _check(lazy, vol, 0.75)
    region = (slice(98, 103), slice(2, 7), slice(0, 9))
    np.testing.assert_array_equal(lazy.read(region), vol[region].astype(np.float32))
    txrm2tiff = pytest.importorskip("txrm2tiff.txrm.main")  # the independent reader (dev extra)
    with open(tmp_path / "scan.txm", "rb") as f:
        other = txrm2tiff.open_txrm(f, load_images=True, load_reference=False, strict=True)
        np.testing.assert_array_equal(other.get_images(), lazy.read_native())
        assert other.image_info["PixelSize"][0] == pytest.approx(lazy.metadata["voxel_size_um"])
    f32 = _vol(np.float32, (4, 70, 40))  # a slice stream over 4096 bytes: regular sectors
    write_txm(tmp_path / "f.txm", f32, None)
    _check(open_volume(tmp_path / "f.txm"), f32, None)


def test_txrm_and_bad_txm_files_are_refused(tmp_path):
    from _ole import write_txm

    vol = _vol(np.uint16, (6, 12, 9))
    write_txm(tmp_path / "proj.txrm", vol, 2.0, projections=True)
    with pytest.raises(
        ValueError,
        match=r"proj.txrm holds projections \(6 projections of 9 x 12 pixels\), "
        r"not a reconstructed volume",
    ):
        open_volume(tmp_path / "proj.txrm")
    write_txm(tmp_path / "scan.txm", vol, 2.0)
    data = (tmp_path / "scan.txm").read_bytes()
    (tmp_path / "cut.txm").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut.txm"):
        open_volume(tmp_path / "cut.txm")
    (tmp_path / "junk.txm").write_bytes(b"not an ole file" * 40)
    with pytest.raises(ValueError, match=r"junk.txm is not an OLE2 compound file"):
        open_volume(tmp_path / "junk.txm")
    with pytest.raises(ValueError, match="reads txm files but does not write them"):
        write_volume(tmp_path / "new.txm", vol.astype(np.float32))


# ------------------------------------------------------------------------------------ bad TIFFs (issue 26)
@pytest.mark.parametrize("layout", ["imagej", "shaped", "plain"])
@pytest.mark.parametrize("cut", ["half", "tail"])
def test_a_truncated_tiff_is_named_truncated(tmp_path, layout, cut):
    vol = _vol(np.float32, (6, 20, 30))
    kw = {"imagej": {"imagej": True}, "shaped": {}, "plain": {"metadata": None}}[layout]
    tifffile.imwrite(tmp_path / "full.tif", vol, **kw)
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2 if cut == "half" else len(data) - 100])
    for read in (open_volume, read_volume):
        with pytest.raises(ValueError, match=r"cut.tif (is truncated|is not a readable TIFF)"):
            read(tmp_path / "cut.tif")


def test_a_2d_tiff_is_not_a_volume(tmp_path):
    tifffile.imwrite(tmp_path / "flat.tif", _vol(np.uint16)[0])
    for read in (open_volume, read_volume):
        with pytest.raises(ValueError, match=r"flat.tif is a 2-D image; a volume is needed"):
            read(tmp_path / "flat.tif")
    with pytest.raises(ValueError, match=r"one.png is a 2-D image; a volume is needed"):
        (tmp_path / "one.png").write_bytes(b"x")
        open_volume(tmp_path / "one.png")


def test_voxel_sizes_anisotropic_missing_and_given(tmp_path):
    vol = _vol(np.float32)
    tifffile.imwrite(
        tmp_path / "aniso.tif",
        vol,
        imagej=True,
        resolution=(1 / 3, 1 / 3),
        metadata={"axes": "ZYX", "spacing": 6.0, "unit": "um"},
    )
    lazy = open_volume(tmp_path / "aniso.tif")
    assert lazy.metadata["voxel_size_zyx_um"] == pytest.approx([6, 3, 3])
    for given in (None, 6.0):  # a given size does not make the grid cubic
        with pytest.raises(ValueError, match=r"aniso.tif has anisotropic voxels 6 x 3 x 3 µm \(z, y, x\)"):
            resolve_voxel_size(lazy.metadata, lazy, given)
    tifffile.imwrite(tmp_path / "bare.tif", vol)
    bare = open_volume(tmp_path / "bare.tif")
    with pytest.raises(ValueError, match=r"^\S*bare.tif: no voxel size in the file; give --voxel$"):
        resolve_voxel_size(bare.metadata, bare)
    assert resolve_voxel_size(bare.metadata, bare, 9.0) == 9.0
    write_volume(tmp_path / "iso.tif", vol, voxel_size_um=2.0)
    iso = open_volume(tmp_path / "iso.tif")
    assert resolve_voxel_size(iso.metadata, iso) == 2.0
    assert iso.metadata["voxel_size_zyx_um"] == pytest.approx([2, 2, 2])
