"""The front door: train a resolution-recovery network on one's own pair of volumes and apply it.

::

    from xrsr_lib import Recovery, read_volume

    rec = Recovery.from_preset("deepnet", "cpu", loss_mask="none")
    rec.fit("lres_on_hres_grid.tif", "hres.tif")          # arrays or file names
    rec.save("my_model")
    sharp = Recovery.load("my_model").predict("whole_lres_scan.tif")
    print(rec.evaluate(sharp_crop, reference_crop))        # PSNR / SSIM / effective blur

Two scans of one sample at different voxel sizes (the multiscale workflow)::

    from xrsr_lib import Recovery, register_scans

    reg = register_scans("lres_9um.tif", "hres_3um.tif", offset_um=(21, 6, -6))
    rec = Recovery.from_preset("deepnet", "cpu").fit_scans("lres_9um.tif", "hres_3um.tif", reg.pose)
    rec.predict_to_zarr("lres_9um.tif", "lfov_3um.zarr")  # whole field of view, out of core
    rec.predict_to_file("lres_9um.tif", "roi_3um.tif", roi=(slice(10, 30),) * 3)  # TIFF, HDF5 ...

With ``fit_scans(..., calibration_fraction=0.2)`` the last fifth of the HRES slices is kept out of
the loss and calibrates a trust map (``trust.json``; or ``calibrate(lres, hres)`` on a held-out
pair); ``predict_to_zarr(..., trust=True)`` then writes ``<out>/trust``, the half-width of an
interval around the prediction that holds the HRES value with the stated coverage, and a verdict:
is the input like the calibration (``predict(volume, trust=True)`` gives the same in memory).

``fit`` takes a low-resolution volume and the high-resolution volume of the same region on the
same voxel grid (registered and resampled; see the multiscale workflow), trains the method with
the preset's settings through the one resumable loop, and keeps the model folder (``config.json``,
``weights.pt``, ``loss.csv``); ``predict`` tiles any volume through the trained network;
``evaluate`` scores a result against a reference with the library's metrics.
"""

from xrsr_lib.recovery.facade import CALIBRATION_GAP, CALIBRATION_MIN_SLICES, Recovery
from xrsr_lib.recovery.registration import register_scans
from xrsr_lib.recovery.settings_files import SETTINGS_FORMAT
from xrsr_lib.recovery.state import ACQUISITION_FILE, TRUST_FILE, VolumeLike

__all__ = [
    "ACQUISITION_FILE",
    "CALIBRATION_GAP",
    "CALIBRATION_MIN_SLICES",
    "SETTINGS_FORMAT",
    "TRUST_FILE",
    "Recovery",
    "VolumeLike",
    "register_scans",
]
