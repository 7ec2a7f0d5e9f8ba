"""Backend dispatch for cone-beam projection and FDK reconstruction.

``backend="auto"`` uses the ASTRA Toolbox CUDA implementation when it is installed and a GPU is
usable (see :func:`xrsr_lib.simulate.ct.astra_projector.astra_available`), and the PyTorch implementation
(:mod:`xrsr_lib.simulate.ct.torch_projector`, CPU or CUDA) otherwise. The choice is logged at INFO level.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch

from xrsr_lib.simulate.ct.astra_projector import astra_fdk_reconstruct, astra_forward_project, astra_status
from xrsr_lib.simulate.ct.geometry import ConeGeometry
from xrsr_lib.simulate.ct.torch_projector import fdk_reconstruct, forward_project

__all__ = ["BACKENDS", "fdk", "project", "select_backend"]

logger = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("auto", "torch", "astra")

# Filters for which "auto" may pick ASTRA: its ram-lak matches ours; its other windows are defined by
# ASTRA and may differ slightly, so they are only used when backend="astra" is explicit.
_AUTO_ASTRA_FILTERS = ("ram-lak",)


def select_backend(
    backend: str = "auto", filter: str | None = None, device: str | torch.device | None = None
) -> str:
    """Resolve ``backend`` to ``"torch"`` or ``"astra"``.

    Parameters
    ----------
    backend : str
        ``"auto"``, ``"torch"`` or ``"astra"``.
    filter : str, optional
        FDK filter (``None`` for forward projection); ``"auto"`` only picks ASTRA for ``"ram-lak"``.
    device : str or torch.device, optional
        An explicit CPU device makes ``"auto"`` choose torch.

    Raises
    ------
    ValueError
        Unknown backend name.
    RuntimeError
        ``backend="astra"`` but ASTRA with CUDA is not available.
    """
    name = str(backend).lower()
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if name == "torch":
        return "torch"
    ok, reason = astra_status()
    if name == "astra":
        if not ok:
            raise RuntimeError(
                f"backend='astra' requested but the ASTRA CUDA backend is unavailable: {reason}"
            )
        return "astra"
    cpu_requested = device is not None and torch.device(device).type == "cpu"
    filter_ok = filter is None or str(filter).lower() in _AUTO_ASTRA_FILTERS
    if ok and filter_ok and not cpu_requested:
        return "astra"
    return "torch"


def project(
    volume: np.ndarray | torch.Tensor,
    geometry: ConeGeometry,
    voxel_size: float,
    center: Sequence[float] = (0.0, 0.0, 0.0),
    backend: str = "auto",
    device: str | torch.device | None = None,
    progress: bool = False,
) -> np.ndarray | torch.Tensor:
    """Cone-beam forward projection (line integrals) with the selected backend.

    Parameters are those of :func:`xrsr_lib.simulate.ct.torch_projector.forward_project` plus ``backend``
    (``"auto"``, ``"torch"`` or ``"astra"``). Returns the same array type as ``volume``.
    """
    chosen = select_backend(backend, None, device)
    if chosen == "astra":
        logger.info("forward projection: ASTRA CUDA backend (FP3D_CUDA, cone_vec)")
        out = astra_forward_project(cast(np.ndarray, volume), geometry, voxel_size, center)
        if isinstance(volume, torch.Tensor):
            return torch.from_numpy(out).to(volume.device)
        return out
    logger.info("forward projection: torch backend")
    return forward_project(volume, geometry, voxel_size, center, device=device, progress=progress)


def fdk(
    projections: np.ndarray | torch.Tensor,
    geometry: ConeGeometry,
    shape: Sequence[int],
    voxel_size: float,
    center: Sequence[float] = (0.0, 0.0, 0.0),
    filter: str = "ram-lak",
    backend: str = "auto",
    device: str | torch.device | None = None,
    progress: bool = False,
) -> np.ndarray:
    """FDK reconstruction (full circular scan) with the selected backend.

    Parameters are those of :func:`xrsr_lib.simulate.ct.torch_projector.fdk_reconstruct` plus ``backend``
    (``"auto"``, ``"torch"`` or ``"astra"``). Returns a float32 numpy array of shape ``shape``.
    """
    chosen = select_backend(backend, filter, device)
    if chosen == "astra":
        logger.info("FDK: ASTRA CUDA backend (FDK_CUDA, filter=%s)", filter)
        proj = cast(np.ndarray, projections)  # typed as the ASTRA functions take it
        return astra_fdk_reconstruct(proj, geometry, shape, voxel_size, center, filter)
    logger.info("FDK: torch backend (filter=%s)", filter)
    return fdk_reconstruct(
        projections, geometry, shape, voxel_size, center, filter, device=device, progress=progress
    )
