"""A trained model folder, loaded: one class for 2.5D and 3D volume networks and 2-D SR networks.

:meth:`LoadedModel.load` reads ``config.json`` and ``weights.pt`` of a folder written by
:func:`xrsr_lib.train.loop.run_training` (through :func:`xrsr_lib.train.train_model` or
:func:`xrsr_lib.train.train_sr`) and rebuilds the registered network; :meth:`LoadedModel.predict`
applies it:

- volume networks (``deepnet``: 2.5D, ``srcnn``: 3D) to a whole volume with the tiling of
  :mod:`xrsr_lib.infer.tiling` (tile and overlap from the settings' ``inference`` section) and the intensity
  normalization stored with the model;
- 2-D SR networks (``utsr``, ``swinir``, ``rrdbnet``) to one image, giving ``scale`` × its size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from xrsr_lib.config.networks import InferenceTiling, recorded_settings
from xrsr_lib.device import resolve_device
from xrsr_lib.infer.tiling import predict_2p5d, predict_3d, tile_margin
from xrsr_lib.io.errors import XrsrInputError, XrsrInputMissing
from xrsr_lib.io.validate import check_array
from xrsr_lib.models import build_model
from xrsr_lib.prepare.normalization import Normalization

__all__ = ["LoadedModel", "ModelKind", "load_network", "read_model_config"]

#: What a model maps: a volume slab-wise (2.5D), a volume block-wise (3D), or a 2-D image up-scaled.
ModelKind = Literal["volume_2p5d", "volume_3d", "slice_2d"]
_VOLUME_KINDS: dict[str, ModelKind] = {"deepnet": "volume_2p5d", "srcnn": "volume_3d"}


def read_model_config(folder: str | Path) -> dict[str, Any]:
    """Read the ``config.json`` of a finished model folder (which must also hold ``weights.pt``).

    Raises
    ------
    FileNotFoundError
        If the folder, its ``config.json`` or its ``weights.pt`` is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise XrsrInputMissing(f"no such model folder: {folder}", parameter="folder")
    cfg_path, w_path = folder / "config.json", folder / "weights.pt"
    if not cfg_path.exists():
        raise XrsrInputMissing(
            f"model folder {folder} has no config.json (training not finished, or not an xrsr model)",
            parameter="folder",
        )
    if not w_path.exists():
        raise XrsrInputMissing(f"model folder {folder} has no weights.pt", parameter="folder")
    try:
        return json.loads(cfg_path.read_text())
    except json.JSONDecodeError as err:
        raise XrsrInputError(
            f"{cfg_path} is not valid JSON ({err}); the folder is damaged", parameter="folder"
        ) from None


def load_network(
    folder: str | Path, name: str, model_config: dict[str, Any], device: str | torch.device | None = None
) -> torch.nn.Module:
    """Build the registered network ``name`` and load the folder's ``weights.pt`` into it (eval mode)."""
    model = build_model(name, model_config)
    model.load_state_dict(torch.load(Path(folder) / "weights.pt", map_location="cpu", weights_only=True))
    return model.to(resolve_device(device)).eval()


@dataclass
class LoadedModel:
    """A trained network with the settings and normalization it was trained with.

    Attributes
    ----------
    kind : {"volume_2p5d", "volume_3d", "slice_2d"}
    name : str
        Registry name of the network (``deepnet``, ``srcnn``, ``utsr``, ``swinir``, ``rrdbnet``).
    model : torch.nn.Module
        In eval mode, on its device.
    config : dict
        The folder's ``config.json``.
    folder : Path
    normalization : Normalization or None
        Intensity normalization of volume networks (None for 2-D SR networks).
    """

    kind: ModelKind
    name: str
    model: torch.nn.Module
    config: dict[str, Any]
    folder: Path
    normalization: Normalization | None = None

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device | None = None) -> LoadedModel:
        """Rebuild the model of a finished folder (see :func:`read_model_config` for the errors)."""
        folder = Path(folder)
        config = read_model_config(folder)
        if config.get("kind") == "sr2d":
            model = load_network(folder, config["model_name"], config["model"], device)
            return cls("slice_2d", config["model_name"], model, config, folder)
        method = config.get("method")
        if method not in _VOLUME_KINDS:
            raise ValueError(
                f"{folder}/config.json describes no known model (method={method!r}, "
                f"kind={config.get('kind')!r})"
            )
        model = load_network(folder, method, config["model"], device)
        norm = Normalization(**config["normalization"])
        return cls(_VOLUME_KINDS[method], method, model, config, folder, norm)

    @cached_property
    def tiling(self) -> InferenceTiling:
        """The inference tiling the model was trained with (its settings' ``inference`` section).

        Read from :attr:`config` once (validated settings), not at every block a prediction tiles.
        """
        if self.kind == "slice_2d":
            raise ValueError(f"{self.folder} is a 2-D SR model; it is applied to whole images, untiled")
        return recorded_settings(self.config).inference

    @property
    def method(self) -> str:
        """The network's registry name (study A calls it the method)."""
        return self.name

    @property
    def model_name(self) -> str:
        """The network's registry name, as 2-D SR model folders record it (same as :attr:`name`)."""
        return self.name

    @property
    def scale(self) -> int:
        """Up-scaling factor of the output grid (1 for volume networks)."""
        return int(self.config.get("scale", 1))

    @property
    def device(self) -> torch.device:
        """The device the model's parameters are on."""
        return next(self.model.parameters()).device

    def halo(self) -> tuple[int, int, int]:
        """Context, voxels per side (z, y, x), a block needs for its centre to equal a whole-volume pass.

        2.5D networks: ``n_slices - 1`` slices in z (every stack holding a slice of the block) and
        half the in-plane receptive field, rounded up to a multiple of the U-Net's size multiple
        so that blocks on an aligned grid pool like the whole image; 3D networks: half the
        receptive field on every axis.
        """
        if self.kind == "slice_2d":
            raise ValueError(f"{self.folder} is a 2-D SR model; halo() applies to volume models")
        net: Any = self.model
        radius = net.receptive_field() // 2
        if self.kind == "volume_2p5d":
            m = int(getattr(net, "size_multiple", 1))
            r = -(-radius // m) * m
            return (self.config["model"]["n_slices"] - 1, r, r)
        return (radius, radius, radius)

    def tile_margin(self, overlap: int | None = None) -> int:
        """Voxels at every inner tile edge that get zero blending weight (:func:`tile_margin`).

        Half the overlap (default: the recorded :attr:`tiling`'s); for a 3-D network
        whose receptive radius fits inside the overlap, that radius, so the tiles equal one
        whole-volume pass (SRCNN on ``cpu``: radius 6, overlap 8).
        """
        overlap = int(self.tiling.overlap if overlap is None else overlap)
        radius = self.model.receptive_field() // 2 if self.kind == "volume_3d" else None  # type: ignore[operator]
        return tile_margin(overlap, radius)

    def predict(
        self,
        array: np.ndarray,
        progress: bool = False,
        batch_size: int = 1,
        tile: int | None = None,
        overlap: int | None = None,
    ) -> np.ndarray:
        """Apply the model: a whole volume ``(z, y, x)``, or one 2-D image ``(h, w)`` for SR models.

        Volumes are tiled as the settings' ``inference`` section says (:attr:`tiling`);
        the outer half of each overlap gets zero weight so tile-edge padding never reaches the
        result, the inner half is blended with a triangular ramp. 2-D networks pad internally to the
        multiples they need, so any image size works; the output is ``scale`` × the input size.

        ``tile`` and ``overlap`` (voxels) override that tiling
        (e.g. a tile as large as the array for one untiled pass, or the tiling
        of a profile whose inference settings changed after the model was trained).

        Raises
        ------
        ValueError
            If the array has the wrong dimensionality, is empty or holds NaN / infinite values.
        """
        self.model.eval()
        if self.kind == "slice_2d":
            arr = check_array(array, "image", 2)
            with torch.inference_mode():
                y = self.model(torch.from_numpy(np.ascontiguousarray(arr))[None, None].to(self.device))
            return y[0, 0].float().cpu().numpy()
        assert self.normalization is not None
        volume = check_array(array, "volume", 3)
        tile = int(self.tiling.tile if tile is None else tile)
        overlap = int(self.tiling.overlap if overlap is None else overlap)
        margin = self.tile_margin(overlap)
        x = self.normalization.inputs(volume)
        tiling: dict[str, Any] = {
            "tile": tile,
            "overlap": overlap,
            "margin": margin,
            "batch_size": batch_size,
            "device": self.device,
            "progress": progress,
        }
        if self.kind == "volume_2p5d":
            y = predict_2p5d(self.model, x, n_slices=self.config["model"]["n_slices"], **tiling)
        else:
            y = predict_3d(self.model, x, **tiling)
        return self.normalization.restore(y)
