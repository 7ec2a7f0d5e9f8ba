"""The front door: train a resolution-recovery network on one's own pair of volumes and apply it.

::

    from xrsr_lib import Recovery, read_volume

    rec = Recovery.from_preset("deepnet", "cpu", loss_mask="none")
    rec.fit("lres_on_hres_grid.tif", "hres.tif")          # arrays or file names
    rec.save("my_model")
    sharp = Recovery.load("my_model").predict("whole_lres_scan.tif")
    print(rec.evaluate(sharp_crop, reference_crop))        # PSNR / SSIM / effective blur

``fit`` takes a low-resolution volume and the high-resolution volume of the same region on the
same voxel grid (registered and resampled; see the multiscale workflow), trains the method with
the preset's settings through the one resumable loop, and keeps the model folder (``config.json``,
``weights.pt``, ``loss.csv``); ``predict`` tiles any volume through the trained network;
``evaluate`` scores a result against a reference with the library's metrics.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from xrsr_lib.config import DeepNetTraining, SRCNNTraining, preset
from xrsr_lib.infer.loaded import LoadedModel, read_model_config
from xrsr_lib.io.validate import check_array
from xrsr_lib.io.volumes import read_volume
from xrsr_lib.train.loop import is_finished
from xrsr_lib.train.volumes import METHODS, check_settings, train_model

log = logging.getLogger(__name__)

__all__ = ["Recovery"]

VolumeLike = np.ndarray | str | Path


def _as_volume(value: VolumeLike, name: str) -> np.ndarray:
    if isinstance(value, str | Path):
        vol, _ = read_volume(value)
        return check_array(vol, f"{name} ({value})")
    return check_array(value, name)


class Recovery:
    """A resolution-recovery method: settings, and once fitted or loaded, a trained network.

    Build one with :meth:`from_preset` (to train) or :meth:`load` (a saved model).

    Parameters
    ----------
    method : {"deepnet", "srcnn"}
        2.5D U-Net (5 slices in and out) or 3D SRCNN.
    settings : DeepNetTraining or SRCNNTraining
        Architecture, training and inference settings.
    device : str, optional
        Torch device; default CUDA when available, else CPU.
    """

    def __init__(self, method: str, settings: DeepNetTraining | SRCNNTraining, device: str | None = None):
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
            raise ValueError(f"{folder} holds no volume model (method={method!r}); Recovery loads "
                             f"{', '.join(METHODS)} models")
        settings_cls = DeepNetTraining if method == "deepnet" else SRCNNTraining
        rec = cls(method, settings_cls.model_validate(config["training"]), device)
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
        x, y = _as_volume(lres, "lres"), _as_volume(hres, "hres")
        if folder is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="xrsr-model-")
            folder = Path(self._tmp.name) / "model"
        log.info("training %s on a %s pair in %s", self.method, x.shape, folder)
        self.folder = train_model(self.method, x, y, self.settings, folder, device=self.device,
                                  progress=progress, mask=mask,
                                  data_description={"lres": str(lres) if isinstance(lres, str | Path) else
                                                    "array", "shape": list(x.shape)})
        self._model = LoadedModel.load(self.folder, device=self.device)
        return self

    def _loaded(self) -> LoadedModel:
        if self._model is None:
            raise RuntimeError("this Recovery is not fitted: call fit(lres, hres) or Recovery.load(folder)")
        return self._model

    def predict(self, volume: VolumeLike, progress: bool = False, batch_size: int = 1) -> np.ndarray:
        """The recovered volume (float32, same shape), tiled through the network."""
        return self._loaded().predict(_as_volume(volume, "volume"), progress=progress, batch_size=batch_size)

    def save(self, folder: str | Path) -> Path:
        """Copy the trained model folder to ``folder`` (which must not exist yet)."""
        model = self._loaded()
        folder = Path(folder)
        if folder.exists():
            raise FileExistsError(f"{folder} exists; choose a new folder for the model")
        if not is_finished(model.folder):
            raise RuntimeError(f"{model.folder} holds no finished model")
        tmp = folder.with_name(f".{folder.name}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(model.folder, tmp)
        tmp.rename(folder)
        return folder

    @staticmethod
    def evaluate(
        result: VolumeLike, reference: VolumeLike, mask: np.ndarray | None = None,
        data_range: float | None = None,
    ) -> dict[str, float]:
        """Scores of a result against a reference of the same grid.

        Returns ``mse``, ``psnr`` (dB), ``ssim`` (Gaussian window σ = 1.5 voxels) and
        ``effective_blur_voxels``: the σ of the Gaussian blur of the reference that best matches the
        result (0 = as sharp as the reference; :func:`xrsr_lib.evaluate.gaussian_fit`).
        ``data_range`` defaults to the reference's max - min.
        """
        from xrsr_lib.evaluate.quality import mse, psnr, ssim
        from xrsr_lib.evaluate.resolution import gaussian_fit

        r, t = _as_volume(result, "result"), _as_volume(reference, "reference")
        if r.shape != t.shape:
            raise ValueError(f"result and reference shapes differ: {r.shape} vs {t.shape}")
        dr = float(t.max() - t.min()) if data_range is None else float(data_range)
        if dr <= 0:
            raise ValueError("the reference is constant: give data_range")
        fit = gaussian_fit({"result": r}, t, mask=mask, progress=False)
        return {"mse": mse(r, t, mask=mask), "psnr": psnr(r, t, data_range=dr, mask=mask),
                "ssim": ssim(r, t, data_range=dr, mask=mask),
                "effective_blur_voxels": float(fit.refined_sigma["result"])}

    def __repr__(self) -> str:
        state = f"fitted, {self.folder}" if self.is_fitted else "not fitted"
        return f"Recovery({self.method!r}, iterations={self.settings.iterations}, {state})"
