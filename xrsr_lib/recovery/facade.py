"""The :class:`Recovery` class: train a network on one's own pair of volumes and apply it."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.config import preset, recorded_settings
from xrsr_lib.infer.loaded import LoadedModel, read_model_config
from xrsr_lib.io.cache import write_json_atomic
from xrsr_lib.io.errors import XrsrInputError
from xrsr_lib.io.scans import read_scan
from xrsr_lib.prepare.pose import Pose
from xrsr_lib.recovery.output import OutputFiles
from xrsr_lib.recovery.scores import Scores
from xrsr_lib.recovery.settings_files import SettingsFiles
from xrsr_lib.recovery.state import ACQUISITION_FILE, TRUST_FILE, VolumeLike
from xrsr_lib.train import distributed
from xrsr_lib.train.volumes import METHODS, train_model

__all__ = ["CALIBRATION_GAP", "CALIBRATION_MIN_SLICES", "Recovery"]

log = logging.getLogger(__name__)

#: HRES slices left out of the loss between the training slices and the calibration slab (at
#: least the presets' network z-reach: the 2.5D DeepNet's 4 slices, the 3D SRCNN's 4 to 8), so that
#: no voxel of the loss sees the calibration slab's input.
CALIBRATION_GAP = 8
#: Fewest HRES slices a calibration slab has.
CALIBRATION_MIN_SLICES = 4


def _calibration_slab(nz: int, fraction: float, coverage: float) -> tuple[int, int] | None:
    """Return the held-out HRES slices of a calibration (None for ``fraction == 0``)."""
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


class Recovery(SettingsFiles, OutputFiles, Scores):
    """A resolution-recovery method: settings, and once fitted or loaded, a trained network.

    Build one with :meth:`from_preset` (to train), :meth:`from_settings` or :meth:`load` (a saved
    model). Its methods come from parts of one responsibility each:
    :class:`~xrsr_lib.recovery.settings_files.SettingsFiles` (settings files),
    :class:`~xrsr_lib.recovery.output.OutputFiles` (results and model folders of any size) and
    :class:`~xrsr_lib.recovery.scores.Scores` (scores against a reference).

    Parameters
    ----------
    method : {"deepnet", "srcnn"}
        2.5D U-Net (5 slices in and out) or 3D SRCNN.
    settings : DeepNetSettings or SRCNNSettings
        Architecture, training and inference settings (sections of the same names).
    device : str, optional
        Torch device; default CUDA when available, else CPU.
    """

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_preset(
        cls, method: str = "deepnet", preset_name: str = "cpu", device: str | None = None, **overrides: Any
    ) -> Recovery:
        """Build an unfitted method with the settings of a preset (``smoke``, ``cpu``, ``paper``).

        ``overrides`` replace settings, each routed to its section (e.g. ``iterations=500,
        loss_mask="none"``, ``inference_tile=96``); see :func:`xrsr_lib.config.preset`.
        """
        return cls(method, preset(method, preset_name, **overrides), device)

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> Recovery:
        """Load a saved model (a folder written by :meth:`save` or by training).

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
        (:func:`xrsr_lib.evaluate.trust.calibration.calibrate_trust`: TTA spread and data consistency,
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
        from xrsr_lib.evaluate.trust.calibration import calibrate_trust
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
        from xrsr_lib.evaluate.trust.calibration import calibrate_trust

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

    def predict(
        self,
        volume: VolumeLike,
        progress: bool = False,
        batch_size: int = 1,
        tile: int | None = None,
        overlap: int | None = None,
        trust: bool | str = False,
    ) -> Any:
        """Return the recovered volume (float32, same shape), tiled through the network.

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
