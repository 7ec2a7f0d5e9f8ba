"""What every part of :class:`~xrsr_lib.recovery.Recovery` shares: method, settings, the trained model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from xrsr_lib.config import VolumeSettings
from xrsr_lib.infer.loaded import LoadedModel
from xrsr_lib.io.scans import ScanLike
from xrsr_lib.train.volumes import check_settings

__all__ = ["ACQUISITION_FILE", "TRUST_FILE", "RecoveryState", "VolumeLike"]

#: File of a model folder trained on two scans: their voxel sizes (µm) and ratio.
ACQUISITION_FILE = "acquisition.json"
#: File of a model folder trained with calibration: the trust map's conformal rules and input domain.
TRUST_FILE = "trust.json"
#: A volume as the facade takes it: an array ``(z, y, x)`` or a volume file
#: (:func:`~xrsr_lib.io.scans.read_scan`).
VolumeLike = ScanLike


class RecoveryState:
    """A method's settings and, once fitted or loaded, its trained network.

    The base of :class:`~xrsr_lib.recovery.Recovery` and of its parts; its parameters are
    :class:`~xrsr_lib.recovery.Recovery`'s.
    """

    def __init__(self, method: str, settings: VolumeSettings, device: str | None = None):
        check_settings(method, settings)
        self.method = method
        self.settings = settings
        self.device = device
        self.folder: Path | None = None
        self._model: LoadedModel | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def is_fitted(self) -> bool:
        """Whether a trained network is at hand (:meth:`fit` ran, or the object was loaded)."""
        return self._model is not None

    def _loaded(self) -> LoadedModel:
        if self._model is None:
            raise RuntimeError("this Recovery is not fitted: call fit(lres, hres) or Recovery.load(folder)")
        return self._model

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

    def __repr__(self) -> str:
        """Return the method, its steps and whether it is fitted (and where), for the console."""
        state = f"fitted, {self.folder}" if self.is_fitted else "not fitted"
        return (
            f"{type(self).__name__}({self.method!r}, iterations={self.settings.training.iterations}, {state})"
        )
