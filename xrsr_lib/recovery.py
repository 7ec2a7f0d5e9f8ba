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

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, cast

import numpy as np
from pydantic import ValidationError

from xrsr_lib.config import VolumeSettings, preset, recorded_settings, settings_class
from xrsr_lib.infer.loaded import LoadedModel, read_model_config
from xrsr_lib.io.cache import write_json_atomic
from xrsr_lib.io.errors import XrsrInputError, XrsrInputExists, XrsrInputMissing
from xrsr_lib.io.scans import ScanLike, read_scan
from xrsr_lib.prepare.pose import Pose
from xrsr_lib.prepare.registration import Registration, register
from xrsr_lib.train import distributed
from xrsr_lib.train.loop import is_finished
from xrsr_lib.train.volumes import METHODS, check_settings, train_model

log = logging.getLogger(__name__)

__all__ = ["ACQUISITION_FILE", "CALIBRATION_GAP", "TRUST_FILE", "Recovery", "register_scans"]

VolumeLike = ScanLike

#: File of a model folder trained on two scans: their voxel sizes (µm) and ratio.
ACQUISITION_FILE = "acquisition.json"
#: File of a model folder trained with calibration: the trust map's conformal rules and input domain.
TRUST_FILE = "trust.json"
#: HRES slices left out of the loss between the training slices and the calibration slab (at
#: least the presets' network z-reach: the 2.5D DeepNet's 4 slices, the 3D SRCNN's 4 to 8), so that
#: no voxel of the loss sees the calibration slab's input.
CALIBRATION_GAP = 8
#: Fewest HRES slices a calibration slab has.
CALIBRATION_MIN_SLICES = 4

#: The ``format`` field of a settings file (:meth:`Recovery.save_settings`): version 2 holds the
#: sections ``architecture``, ``training`` and ``inference``; version 1 (read too) held them flat
#: under ``training``.
SETTINGS_FORMAT = "xrsr-settings/2"


def register_scans(
    lres: VolumeLike,
    hres: VolumeLike,
    lres_voxel_um: float | None = None,
    hres_voxel_um: float | None = None,
    offset_um: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Registration:
    """Find where a high-resolution interior scan lies in the low-resolution scan of the same sample.

    Parameters
    ----------
    lres, hres : ndarray (z, y, x) or path
        The whole-sample scan and the interior scan (files give their voxel sizes when they record
        them).
    lres_voxel_um, hres_voxel_um : float, optional
        Voxel sizes, µm (required for arrays, or files without the metadata).
    offset_um : (z, y, x)
        The recorded centre of the interior scan, µm from the centre of the LRES volume (the
        stage positions); the search starts there.

    Returns
    -------
    Registration
        ``pose`` (rotation about z and centre, :class:`~xrsr_lib.prepare.pose.Pose`) and
        ``report()`` (correlations, peak ratio).

    Raises
    ------
    ValueError
        Missing voxel sizes, an HRES voxel not finer than the LRES one, or no reliable match
        (:class:`~xrsr_lib.prepare.registration.RegistrationError`).
    """
    coarse, vc = read_scan(lres, "lres", lres_voxel_um)
    fine, vf = read_scan(hres, "hres", hres_voxel_um)
    if vf >= vc:
        raise XrsrInputError(
            f"the HRES voxel ({vf} µm) must be finer than the LRES voxel ({vc} µm)", parameter="hres"
        )
    center = cast(tuple[float, float, float], tuple(float(v) for v in offset_um))
    return register(fine, vf, coarse, vc, Pose(0.0, center))


def _calibration_slab(nz: int, fraction: float, coverage: float) -> tuple[int, int] | None:
    """The held-out HRES slices of a calibration (None for ``fraction == 0``)."""
    if not 0 <= fraction < 1:
        raise XrsrInputError(
            f"calibration_fraction must lie in [0, 1), got {fraction}", parameter="calibration_fraction"
        )
    if not 0 < coverage < 1:
        raise XrsrInputError(f"coverage must lie in (0, 1), got {coverage}", parameter="coverage")
    if fraction == 0:
        return None
    n = max(CALIBRATION_MIN_SLICES, round(fraction * nz))
    if nz - n - CALIBRATION_GAP < CALIBRATION_MIN_SLICES:
        raise XrsrInputError(
            f"calibration_fraction {fraction} of {nz} HRES slices leaves "
            f"{nz - n - CALIBRATION_GAP} to train on (after a gap of {CALIBRATION_GAP}); "
            "use a smaller fraction",
            parameter="calibration_fraction",
        )
    return nz - n, nz


class Recovery:
    """A resolution-recovery method: settings, and once fitted or loaded, a trained network.

    Build one with :meth:`from_preset` (to train) or :meth:`load` (a saved model).

    Parameters
    ----------
    method : {"deepnet", "srcnn"}
        2.5D U-Net (5 slices in and out) or 3D SRCNN.
    settings : DeepNetSettings or SRCNNSettings
        Architecture, training and inference settings (sections of the same names).
    device : str, optional
        Torch device; default CUDA when available, else CPU.
    """

    def __init__(self, method: str, settings: VolumeSettings, device: str | None = None):
        check_settings(method, settings)
        self.method = method
        self.settings = settings
        self.device = device
        self.folder: Path | None = None
        self._model: LoadedModel | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(
        cls, method: str = "deepnet", preset_name: str = "cpu", device: str | None = None, **overrides: Any
    ) -> Recovery:
        """Settings of ``method`` under a preset (``smoke``, ``cpu``, ``paper``), fields replaced by
        ``overrides`` (e.g. ``iterations=500, loss_mask="none"``); see :func:`xrsr_lib.config.preset`."""
        return cls(method, preset(method, preset_name, **overrides), device)

    @classmethod
    def from_settings(cls, path: str | Path, device: str | None = None, **overrides: Any) -> Recovery:
        """Settings from a file written by :meth:`save_settings` (or ``xrsr settings``), fields
        replaced by ``overrides``: a run reproducible from one file.

        Raises
        ------
        XrsrInputError
            If the file is missing, is not JSON, names no known method or holds an invalid setting
            (the field named).
        """
        path = Path(path)
        if not path.is_file():
            raise XrsrInputMissing(
                f"no such settings file: {path} (write one with xrsr settings)", parameter="settings"
            )
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise XrsrInputError(
                f"{path} is not a settings file of xrsr ({err})", parameter="settings"
            ) from None
        method = doc.get("method") if isinstance(doc, dict) else None
        sections = ("architecture", "training", "inference")
        if method not in METHODS or not isinstance(doc.get("training"), dict):
            raise XrsrInputError(
                f"{path}: a settings file holds 'method' (one of {', '.join(METHODS)}) and the sections "
                f"{', '.join(map(repr, sections))} (xrsr settings writes one)",
                parameter="settings",
            )
        try:
            if doc.get("format") == "xrsr-settings/1":  # one flat dict under "training"
                settings = settings_class(method).from_flat(doc["training"])
            else:
                settings = settings_class(method).model_validate({k: doc[k] for k in sections if k in doc})
            settings = settings.replace(**overrides) if overrides else settings
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(v) for v in first["loc"])
            raise XrsrInputError(f"{path}: setting {where!r}: {first['msg']}", parameter="settings") from None
        except ValueError as err:  # an override that names no setting
            raise XrsrInputError(f"{path}: {err}", parameter="settings") from None
        return cls(method, settings, device)

    def save_settings(self, path: str | Path) -> Path:
        """Write this object's method and settings as JSON (atomically).

        The file holds ``format``, ``method`` and the sections ``architecture``, ``training`` and
        ``inference``: what :meth:`from_settings` and ``xrsr train --settings`` read.
        """
        path = Path(path)
        if path.exists():
            raise XrsrInputExists(f"{path} exists; choose a new name for the settings file", parameter="out")
        write_json_atomic(
            path,
            {"format": SETTINGS_FORMAT, "method": self.method, **self.settings.model_dump(mode="json")},
        )
        return path

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> Recovery:
        """A saved model (a folder written by :meth:`save` or by training).

        Raises
        ------
        FileNotFoundError
            If the folder, its ``config.json`` or its ``weights.pt`` is missing.
        ValueError
            If the folder holds no volume model.
        """
        folder = Path(folder)
        config = read_model_config(folder)
        method = config.get("method")
        if method not in METHODS:
            raise XrsrInputError(
                f"{folder} holds no volume model (method={method!r}); Recovery loads "
                f"{', '.join(METHODS)} models",
                parameter="folder",
            )
        rec = cls(method, recorded_settings(config), device)
        rec.folder = folder
        rec._model = LoadedModel.load(folder, device=device)
        return rec

    # ------------------------------------------------------------------ use
    @property
    def is_fitted(self) -> bool:
        return self._model is not None

    def fit(
        self,
        lres: VolumeLike,
        hres: VolumeLike,
        mask: np.ndarray | None = None,
        folder: str | Path | None = None,
        progress: bool = True,
    ) -> Recovery:
        """Train on a registered pair: the low-resolution volume and the high-resolution target.

        Parameters
        ----------
        lres, hres : ndarray (z, y, x) or path
            Same shape, same voxel grid; arrays or volume files (:func:`xrsr_lib.io.read_volume`).
        mask : ndarray of bool, optional
            Where the loss is computed ((y, x) or (z, y, x)), on top of the setting ``loss_mask``.
        folder : path, optional
            Model folder (resumed after an interruption); default a temporary folder, kept until
            :meth:`save` copies it or the object is deleted.
        progress : bool
            Show a progress bar.

        Returns
        -------
        Recovery
            ``self``, fitted.
        """
        x, _ = read_scan(lres, "lres", need_voxel=False)
        y, _ = read_scan(hres, "hres", need_voxel=False)
        if folder is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="xrsr-model-")
            folder = Path(self._tmp.name) / "model"
        log.info("training %s on a %s pair in %s", self.method, x.shape, folder)
        self.folder = train_model(
            self.method,
            x,
            y,
            self.settings,
            folder,
            device=self.device,
            progress=progress,
            mask=mask,
            data_description={
                "lres": str(lres) if isinstance(lres, str | Path) else "array",
                "shape": list(x.shape),
            },
        )
        self._model = LoadedModel.load(self.folder, device=self.device)
        return self

    def fit_scans(
        self,
        lres: VolumeLike,
        hres: VolumeLike,
        pose: Pose | dict[str, Any],
        lres_voxel_um: float | None = None,
        hres_voxel_um: float | None = None,
        folder: str | Path | None = None,
        progress: bool = True,
        calibration_fraction: float = 0.0,
        coverage: float = 0.9,
    ) -> Recovery:
        """Train on two registered scans of one sample: the LRES scan seen on the HRES grid -> the HRES scan.

        The LRES scan is resampled (cubic spline) onto the HRES scan's grid at ``pose``, and the
        loss is computed only where that grid lies inside the LRES volume and inside the setting
        ``loss_mask`` (the presets' ``"fov_circle"``: the cylinder an HRES interior scan is
        reconstructed in; ``Recovery.from_preset(..., loss_mask="none")`` when the whole HRES
        volume is measured; ``xrsr train --loss-mask`` sets the same). The voxel sizes and
        their ratio are stored with the model (``acquisition.json``), so that
        :meth:`predict_to_zarr` recovers an LRES volume on the HRES voxel size and refuses input
        of another voxel size.

        With ``calibration_fraction > 0`` the last ``calibration_fraction`` of the HRES slices (at
        least 4) are kept out of the loss, with a gap of :data:`CALIBRATION_GAP` slices before them;
        after training they calibrate a trust map
        (:func:`xrsr_lib.evaluate.trust.maps.calibrate_trust`: TTA spread and data consistency,
        conformal intervals of ``coverage``, the input domain), stored as ``trust.json``
        (:attr:`trust`) for ``predict_to_zarr(..., trust=True)``.

        Parameters
        ----------
        lres, hres : ndarray (z, y, x) or path
        pose : Pose or dict
            The HRES scan's pose in the LRES scan (:func:`register_scans`, or its JSON).
        lres_voxel_um, hres_voxel_um : float, optional
            Voxel sizes, µm (default: from the files).
        folder, progress
            As for :meth:`fit`.
        calibration_fraction : float
            Fraction of the HRES z-slices (the last ones) held out to calibrate the trust map; 0: none.
        coverage : float
            Nominal coverage of the trust intervals, in (0, 1).

        Raises
        ------
        ValueError
            Missing voxel sizes, an HRES field of view mostly (over half) outside the LRES volume,
            or a calibration fraction that leaves too few slices to train on.
        """
        from xrsr_lib.prepare.resample import resample

        coarse, vc = read_scan(lres, "lres", lres_voxel_um)
        fine, vf = read_scan(hres, "hres", hres_voxel_um)
        pose = pose if isinstance(pose, Pose) else Pose.from_dict(pose)
        x, inside = resample(coarse, vc, fine.shape, vf, pose, order=3)
        if inside.mean() < 0.5:
            raise XrsrInputError(
                f"the HRES field of view lies mostly outside the LRES volume at this pose "
                f"({100 * inside.mean():.0f}% inside); check the pose or the offset",
                parameter="pose",
            )
        slab = _calibration_slab(fine.shape[0], calibration_fraction, coverage)
        train_mask = inside
        if slab is not None:
            train_mask = inside.copy()
            train_mask[slab[0] - CALIBRATION_GAP :] = False
        self.fit(x, fine, mask=train_mask, folder=folder, progress=progress)
        assert self.folder is not None
        if distributed.is_main():
            write_json_atomic(
                self.folder / ACQUISITION_FILE, {"lres_voxel_um": vc, "hres_voxel_um": vf, "scale": vc / vf}
            )
            if slab is not None:
                self._calibrate(x, fine, inside, slab, coverage)
        distributed.barrier()
        return self

    def _calibrate(
        self, x: np.ndarray, y: np.ndarray, inside: np.ndarray, slab: tuple[int, int], coverage: float
    ) -> None:
        """Calibrate the trust map on the held-out slab and write ``trust.json``."""
        from xrsr_lib.evaluate.trust.maps import calibrate_trust
        from xrsr_lib.prepare.masks import loss_mask

        model = self._loaded()
        data = inside & loss_mask(self.settings.training.loss_mask, y.shape[1:])[None]
        record = calibrate_trust(model.predict, x, y, data, slab, coverage, context=model.halo()[0])
        write_json_atomic(model.folder / TRUST_FILE, record)

    def calibrate(
        self,
        lres: VolumeLike,
        hres: VolumeLike,
        coverage: float = 0.9,
        mask: np.ndarray | None = None,
        domain: Any = None,
        slab: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """Calibrate the trust map of a fitted model on a pair it never trained on; writes ``trust.json``.

        ``lres`` (on the HRES grid, as for :meth:`fit`) and ``hres`` hold a region the model never
        trained on: the slices ``slab = (z0, z1)`` (default all) calibrate, the others only give the
        network and the scores their context (e.g. the whole pair whose first slices :meth:`fit`
        used, with a gap of the network's reach before the slab). :meth:`fit_scans` with
        ``calibration_fraction`` does the same on two scans. ``mask`` marks the voxels that are
        data; ``domain`` is a :class:`~xrsr_lib.config.trust.DomainConfig` (the input-domain
        features and verdict rule).

        Returns
        -------
        dict
            The record (:attr:`trust`).
        """
        from xrsr_lib.evaluate.trust.maps import calibrate_trust

        model = self._loaded()
        x, _ = read_scan(lres, "lres", need_voxel=False)
        y, _ = read_scan(hres, "hres", need_voxel=False)
        if x.shape != y.shape:
            raise ValueError(f"lres {x.shape} and hres {y.shape} must share one grid")
        inside = np.ones(x.shape, bool) if mask is None else np.asarray(mask, bool)
        record = calibrate_trust(
            model.predict,
            x,
            y,
            inside,
            slab or (0, x.shape[0]),
            coverage,
            context=model.halo()[0],
            domain=domain,
        )
        write_json_atomic(model.folder / TRUST_FILE, record)
        return record

    @property
    def trust(self) -> dict[str, Any]:
        """The trust calibration of the model (``trust.json``; empty if trained without calibration)."""
        path = self._loaded().folder / TRUST_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    @property
    def acquisition(self) -> dict[str, float]:
        """Voxel sizes (µm) and ratio the model was trained for (empty if not trained on two scans)."""
        path = self._loaded().folder / ACQUISITION_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def predict_to_zarr(
        self,
        source: str | Path | Any,
        out: str | Path,
        scale: float | None = None,
        voxel_size_um: float | None = None,
        trust: bool | str = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Recover a volume file of any size into an OME-Zarr image, block by block.

        ``source`` is a volume file or a :class:`~xrsr_lib.io.lazy.LazyVolume`; ``scale`` defaults
        to the voxel-size ratio of :meth:`fit_scans` (else 1) and ``voxel_size_um`` to the file's
        (a file without one, or with anisotropic voxels, is refused: never assumed); the model runs
        on this object's ``device`` (in every dask worker too); other keywords (``roi``,
        ``chunks``, ``block``, ``client``, ``progress`` ...) go to
        :func:`xrsr_lib.infer.chunked.predict_to_zarr`.

        With ``trust=True`` (a model trained with ``calibration_fraction > 0``) the store also holds
        the image ``<out>/trust``: per voxel, the half-width (grey units) of an interval around the
        prediction that holds the HRES value with the calibrated coverage, valid where the input
        looks like the calibration blocks (``out_of_domain_fraction`` in the result and the
        image's attributes); the result's ``trust`` entry summarizes it. The intervals scale the
        TTA spread; ``trust="consistency"`` scales the disagreement with the input instead.

        Raises
        ------
        ValueError
            A ``scale`` or input voxel size other than the ones the model was trained for;
            ``trust=True`` for a model trained without calibration.
        """
        from xrsr_lib.infer.chunked import predict_to_zarr
        from xrsr_lib.io.lazy import LazyVolume, open_volume

        model = self._loaded()
        acq = self.acquisition
        from xrsr_lib.io.voxels import resolve_voxel_size

        src = source if isinstance(source, LazyVolume) else open_volume(source)
        v_in = resolve_voxel_size(src.metadata, src.path, voxel_size_um, "voxel_size_um")
        trained = acq.get("scale")
        scale = float(scale) if scale is not None else float(trained or 1.0)
        if trained is not None and abs(scale - trained) > 1e-3 * trained:
            raise XrsrInputError(
                f"{model.folder} was trained for a voxel-size ratio of {trained:g}, not {scale:g}",
                parameter="scale",
            )
        if v_in is not None and "lres_voxel_um" in acq and abs(v_in - acq["lres_voxel_um"]) > 1e-2 * v_in:
            raise XrsrInputError(
                f"{src.path} has {v_in:g} µm voxels; {model.folder} was trained on "
                f"{acq['lres_voxel_um']:g} µm input",
                parameter="source",
            )
        if trust:
            from xrsr_lib.evaluate.trust.maps import BlockTrust

            if not self.trust:
                raise XrsrInputError(
                    f"{model.folder} was trained without calibration; train with "
                    "calibration_fraction > 0 (xrsr train --calibrate 0.2)",
                    parameter="trust",
                )
            kwargs["trust"] = BlockTrust(self.trust, None if trust is True else str(trust))
        kwargs.setdefault("device", self.device)
        return predict_to_zarr(model.folder, src, out, scale=scale, voxel_size_um=v_in, **kwargs)

    @staticmethod
    def prediction_files(out: str | Path, trust: bool | str = False) -> tuple[Path, Path | None]:
        """The files :meth:`predict_to_file` writes for ``out``, checked before any work.

        Parameters
        ----------
        out : path
            The output: ``.zarr`` (OME-Zarr) or a file :func:`~xrsr_lib.io.volumes.write_volume`
            writes (``.tif``, ``.h5``, ``.npy``, ``.mhd``, ``.nrrd``, ``.nii``, a folder of slices).
        trust : bool or str
            Whether a trust map is written too.

        Returns
        -------
        image : Path
            ``out``.
        trust_image : Path or None
            The trust map: the image ``<out>/trust`` of a ``.zarr``, else ``<stem>_trust<suffix>``
            beside ``out``; None without ``trust``.

        Raises
        ------
        XrsrInputExists
            If ``out`` or the trust map beside it exists (parameter ``out``; xrsr never overwrites).
        XrsrInputError
            A suffix of no known format, or of one xrsr only reads (parameter ``out``, the file named).
        """
        from xrsr_lib.io.volumes import writable_format

        out = Path(out)
        if out.exists():
            raise XrsrInputExists(f"{out} exists; choose a new output name or delete it", parameter="out")
        try:
            fmt = writable_format(out)
        except XrsrInputError as err:
            raise XrsrInputError(str(err), parameter="out") from None
        if not trust:
            return out, None
        if fmt == "zarr":
            return out, out / "trust"
        beside = out.with_name(f"{out.stem}_trust{out.suffix}")
        if beside.exists():
            raise XrsrInputExists(
                f"{beside} (the trust map beside {out}) exists; choose a new output name or delete it",
                parameter="out",
            )
        return out, beside

    def predict_to_file(
        self,
        source: str | Path | Any,
        out: str | Path,
        scale: float | None = None,
        voxel_size_um: float | None = None,
        trust: bool | str = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Recover a volume file into an OME-Zarr image or any volume file xrsr writes.

        A ``.zarr`` output is :meth:`predict_to_zarr`'s (with a pyramid; any size, an interrupted
        run resumes). Any other output (``.tif``, ``.h5``, ``.npy``, ``.mhd``, ``.nrrd``, ``.nii``,
        a folder of slices; :func:`~xrsr_lib.io.volumes.write_volume`) is predicted block by block
        into a hidden store beside it (``.<name>.zarr``, which an interrupted run resumes), then
        written whole, so it must fit in memory; the store is removed. With ``trust`` the trust
        map goes to ``<stem>_trust<suffix>`` beside such a file (:meth:`prediction_files`).
        Both files record the output voxel size (µm).

        Parameters
        ----------
        source : path or LazyVolume
            The input volume (:func:`~xrsr_lib.io.lazy.open_volume`).
        out : path
            The output; must not exist.
        scale, voxel_size_um, trust, **kwargs
            As for :meth:`predict_to_zarr` (``roi``, ``chunks``, ``block``, ``client``,
            ``progress``, ``attrs``, ...).

        Returns
        -------
        dict
            :meth:`predict_to_zarr`'s summary (``shape``, ``voxel_size_um`` ...), with ``out`` the
            file written and, with ``trust``, ``trust["image"]`` its trust map.

        Raises
        ------
        XrsrInputExists
            If ``out`` (or its trust map) exists, before any work.
        XrsrInputError
            An output suffix xrsr does not write, before any work; and :meth:`predict_to_zarr`'s.
        """
        from xrsr_lib.io.omezarr import is_zarr, open_zarr
        from xrsr_lib.io.volumes import write_volume

        image, trust_image = self.prediction_files(out, trust)
        if is_zarr(image):
            kwargs.setdefault("pyramid", True)
            return self.predict_to_zarr(
                source, image, scale=scale, voxel_size_um=voxel_size_um, trust=trust, **kwargs
            )
        store = image.with_name(f".{image.name}.zarr")  # block by block, resumable; the file at the end
        kwargs["pyramid"] = False
        info = self.predict_to_zarr(
            source, store, scale=scale, voxel_size_um=voxel_size_um, trust=trust, **kwargs
        )
        arr, _ = open_zarr(store)
        write_volume(image, np.asarray(arr[...]), voxel_size_um=info["voxel_size_um"])
        if trust_image is not None:
            arr, _ = open_zarr(store / "trust")
            write_volume(trust_image, np.asarray(arr[...]), voxel_size_um=info["voxel_size_um"])
            info["trust"]["image"] = str(trust_image)
        shutil.rmtree(store)
        info["out"] = str(image)
        return info

    def _loaded(self) -> LoadedModel:
        if self._model is None:
            raise RuntimeError("this Recovery is not fitted: call fit(lres, hres) or Recovery.load(folder)")
        return self._model

    def predict(
        self,
        volume: VolumeLike,
        progress: bool = False,
        batch_size: int = 1,
        tile: int | None = None,
        overlap: int | None = None,
        trust: bool | str = False,
    ) -> Any:
        """The recovered volume (float32, same shape), tiled through the network.

        ``tile`` and ``overlap`` (voxels; default: the settings' ``inference`` section) set the
        tiling, e.g. smaller tiles for a GPU with little memory; the
        trained weights do not depend on them.

        With ``trust=True`` (a calibrated model: :attr:`trust`) the result is a
        :class:`~xrsr_lib.evaluate.trust.maps.TrustedPrediction` instead: ``prediction``,
        ``halfwidth`` (the interval half-width per voxel, as ``predict_to_zarr(..., trust=True)``
        writes), ``verdict`` (is the input like the calibration, and which block features moved),
        ``out_of_domain`` per domain block; ``trust="consistency"`` scales the data-consistency
        score instead of the TTA spread. It costs the eight in-plane symmetries' predictions.

        Raises
        ------
        ValueError
            ``trust`` for a model trained without calibration.
        """
        vol, _ = read_scan(volume, "volume", need_voxel=False)
        model = self._loaded()
        if not trust:
            return model.predict(vol, progress=progress, batch_size=batch_size, tile=tile, overlap=overlap)
        from xrsr_lib.evaluate.trust.maps import BlockTrust

        if not self.trust:
            raise ValueError(
                f"{model.folder} was trained without calibration; train with "
                "calibration_fraction > 0 (xrsr train --calibrate 0.2) or call calibrate()"
            )
        bt = BlockTrust(self.trust, None if trust is True else str(trust))
        return bt.whole(lambda v: model.predict(v, batch_size=batch_size, tile=tile, overlap=overlap), vol)

    def save(self, folder: str | Path, move: bool = False) -> Path:
        """Copy the trained model folder to ``folder`` (which must not exist yet).

        Parameters
        ----------
        folder : path
            The new model folder; it appears complete or not at all (written under a temporary
            name, then renamed).
        move : bool
            Remove the training folder once copied (e.g. the resumable work folder of a finished
            run); this object then uses ``folder`` (:attr:`folder`, :attr:`trust`, :attr:`acquisition`).

        Returns
        -------
        Path
            ``folder``.

        Raises
        ------
        XrsrInputExists
            If ``folder`` exists (parameter ``folder``).
        RuntimeError
            If the model's training did not finish.

        Notes
        -----
        Under ``torchrun`` (data-parallel training, :mod:`xrsr_lib.train.distributed`) call it on every
        rank, as :meth:`fit` and :meth:`fit_scans`: rank 0 writes, after every rank got here (so
        every rank has read the training folder before a ``move`` removes it), and every rank
        returns once the folder is complete.
        """
        model = self._loaded()
        folder = Path(folder)
        if folder.exists():
            raise XrsrInputExists(f"{folder} exists; choose a new folder for the model", parameter="folder")
        if not is_finished(model.folder):
            raise RuntimeError(f"{model.folder} holds no finished model")
        distributed.barrier()  # every rank has checked and read the training folder
        if distributed.is_main():
            tmp = folder.with_name(f".{folder.name}.partial")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(model.folder, tmp)
            tmp.rename(folder)
            if move:
                shutil.rmtree(model.folder)
        distributed.barrier()  # the folder is complete for every rank
        if move:
            self.folder = model.folder = folder
        return folder

    @staticmethod
    def evaluate(
        result: VolumeLike,
        reference: VolumeLike,
        mask: np.ndarray | None = None,
        data_range: float | None = None,
        voxel_size_um: float | None = None,
        pores: bool = False,
    ) -> dict[str, Any]:
        """Scores of a result against a reference of the same grid (what ``xrsr evaluate`` reports).

        Returns ``mse``, ``psnr`` (dB), ``ssim`` (Gaussian window σ = 1.5 voxels), ``ms_ssim`` (None
        for a masked or too small volume) and ``effective_blur_voxels``: the σ of the Gaussian blur of
        the reference that best matches the result (0 = as sharp as the reference;
        :func:`xrsr_lib.evaluate.gaussian_fit`). ``data_range`` defaults to the reference's
        max - min. With ``voxel_size_um``, also ``effective_blur_um``; with ``pores=True`` (needs
        it), pore statistics of both (:func:`xrsr_lib.evaluate.volume_scores.volume_scores`).
        """
        from xrsr_lib.evaluate.volume_scores import volume_scores

        r, _ = read_scan(result, "result", need_voxel=False)
        t, _ = read_scan(reference, "reference", need_voxel=False)
        if r.shape != t.shape:
            raise XrsrInputError(
                f"result and reference shapes differ: {r.shape} vs {t.shape}", parameter="reference"
            )
        dr = float(t.max() - t.min()) if data_range is None else float(data_range)
        if dr <= 0:
            raise XrsrInputError("the reference is constant: give data_range", parameter="data_range")
        if pores and voxel_size_um is None:
            raise XrsrInputError("pore statistics need voxel_size_um", parameter="voxel_size_um")
        return volume_scores(r, t, dr, mask=mask, voxel_size_um=voxel_size_um, pores=pores)

    @staticmethod
    def evaluate_on_scan(
        result: Any,
        reference: VolumeLike,
        pose: Pose | dict[str, Any],
        reference_voxel_um: float | None = None,
        data_range: float | None = None,
    ) -> dict[str, Any]:
        """Scores of a prediction against a scan of a region of its input, on that scan's grid.

        ``result`` is an OME-Zarr written by :meth:`predict_to_zarr` (or ``xrsr predict``; a whole
        volume or a ``roi``), which records where it lies in its input. ``pose`` places the reference
        scan in the input scan's frame (:func:`register_scans`, ``xrsr register``). Only the part of
        the result under the reference is read; it is resampled (cubic spline) onto the reference's
        grid and scored (:meth:`evaluate`) over the reference voxels it covers.

        Returns
        -------
        dict
            :meth:`evaluate`'s scores, ``voxels_scored`` and the grid's ``voxel_size_um``.

        Raises
        ------
        XrsrInputError
            A result that does not record its place in its input, or no overlap under ``pose``.
        """
        from xrsr_lib.io.lazy import LazyVolume, open_volume
        from xrsr_lib.prepare.resample import resample_region

        src = result if isinstance(result, LazyVolume) else open_volume(result)
        prov = src.metadata.get("xrsr", {})
        need = ("origin_um", "input_shape", "input_voxel_size_um", "voxel_size_um")
        if not all(k in prov for k in need):
            raise XrsrInputError(
                f"{src.path} does not record where it lies in its input; give an OME-Zarr "
                "written by xrsr predict",
                parameter="result",
            )
        pose = pose if isinstance(pose, Pose) else Pose.from_dict(pose)
        ref, v_ref = read_scan(reference, "reference", reference_voxel_um)
        on_grid, inside = resample_region(
            src,
            prov["origin_um"],
            float(prov["voxel_size_um"]),
            prov["input_shape"],
            float(prov["input_voxel_size_um"]),
            ref.shape,
            v_ref,
            pose,
        )
        if inside.sum() < 8:
            name = reference if isinstance(reference, str | Path) else "the reference"
            raise XrsrInputError(f"{name} lies outside {src.path} under the pose", parameter="pose")
        scores = Recovery.evaluate(on_grid, ref, mask=inside, data_range=data_range, voxel_size_um=v_ref)
        return {**scores, "voxels_scored": int(inside.sum()), "voxel_size_um": v_ref}

    def __repr__(self) -> str:
        state = f"fitted, {self.folder}" if self.is_fitted else "not fitted"
        return f"Recovery({self.method!r}, iterations={self.settings.training.iterations}, {state})"
