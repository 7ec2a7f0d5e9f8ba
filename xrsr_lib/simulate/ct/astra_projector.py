"""Optional ASTRA Toolbox (CUDA) backend for cone-beam projection and FDK.

astra-toolbox is an optional extra (``pip install xrsr[astra]``). Its 3D algorithms exist only on
CUDA, and calling them without a usable GPU can kill the interpreter (SIGFPE) instead of raising, so
:func:`astra_available` only reports ``True`` when ``import astra`` works *and* ``astra.use_cuda()``
says a GPU is usable. Every public function here checks it before touching ASTRA's 3D code.

Geometry mapping (see :mod:`xrsr_lib.simulate.ct.geometry`): the projection geometry is ASTRA ``cone_vec``
built from :meth:`ConeGeometry.astra_vectors`, the volume geometry is windowed in physical units
(µm) around ``center``, and ASTRA's projection layout ``(rows, angles, cols)`` is transposed to and
from ours ``(angles, rows, cols)``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from xrsr_lib.simulate.ct.geometry import ConeGeometry
from xrsr_lib.simulate.ct.ramp_filter import angular_weights, check_filter
from xrsr_lib.simulate.ct.torch_projector import (
    check_center,
    check_geometry,
    check_shape,
    check_voxel_size,
)

__all__ = [
    "ASTRA_FILTERS",
    "astra_available",
    "astra_fdk_reconstruct",
    "astra_forward_project",
    "astra_status",
]

logger = logging.getLogger(__name__)

#: Apodization windows passed to ASTRA's ``FDK_CUDA`` as ``FilterType`` (ASTRA >= 2.2 names).
ASTRA_FILTERS: tuple[str, ...] = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")


@functools.lru_cache(maxsize=1)
def astra_status() -> tuple[bool, str]:
    """Whether the ASTRA CUDA backend can be used, with a human-readable reason (cached).

    Returns
    -------
    tuple of (bool, str)
        ``(True, "astra <version> with CUDA")`` or ``(False, reason)``.
    """
    try:
        import astra  # optional dependency
    except Exception as exc:  # ImportError, or a broken binary install
        return False, f"astra-toolbox is not importable ({type(exc).__name__}: {exc})"
    try:
        cuda = bool(astra.use_cuda())
    except Exception as exc:
        return False, f"astra.use_cuda() failed ({type(exc).__name__}: {exc})"
    if not cuda:
        return False, "astra-toolbox is installed but astra.use_cuda() reports no usable CUDA GPU"
    version = getattr(astra, "__version__", "?")
    return True, f"astra {version} with CUDA"


def astra_available() -> bool:
    """Return ``True`` only if astra-toolbox imports and reports a usable CUDA GPU (cached)."""
    return astra_status()[0]


def _require_astra() -> Any:
    ok, reason = astra_status()
    if not ok:
        raise RuntimeError(f"ASTRA CUDA backend unavailable: {reason}")
    import astra

    return astra


def _vol_geom(
    astra: Any, shape: tuple[int, int, int], voxel_size: float, center: tuple[float, float, float]
) -> dict:
    nz, ny, nx = shape
    cz, cy, cx = center
    hx, hy, hz = nx * voxel_size / 2.0, ny * voxel_size / 2.0, nz * voxel_size / 2.0
    # create_vol_geom(rows=Y, cols=X, slices=Z, minx, maxx, miny, maxy, minz, maxz); data is [z, y, x].
    return astra.create_vol_geom(ny, nx, nz, cx - hx, cx + hx, cy - hy, cy + hy, cz - hz, cz + hz)


def _proj_geom(astra: Any, geometry: ConeGeometry) -> dict:
    return astra.create_proj_geom("cone_vec", geometry.det_rows, geometry.det_cols, geometry.astra_vectors())


def _as_float32(data: object, name: str, ndim: int) -> np.ndarray:
    try:
        import torch

        if isinstance(data, torch.Tensor):
            data = data.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    if not isinstance(data, np.ndarray):
        raise ValueError(f"{name} must be a numpy array or torch tensor, got {type(data).__name__}")
    if data.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {data.shape}")
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise ValueError(f"{name} must hold real numbers, got dtype {data.dtype}")
    out = np.ascontiguousarray(data, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return out


def astra_forward_project(
    volume: np.ndarray,
    geometry: ConeGeometry,
    voxel_size: float,
    center: Sequence[float] = (0.0, 0.0, 0.0),
    gpu_index: int | None = None,
) -> np.ndarray:
    """Cone-beam line integrals with ASTRA ``FP3D_CUDA``.

    Parameters
    ----------
    volume : numpy.ndarray
        Attenuation per unit length (1/µm), indexed ``[iz, iy, ix]``.
    geometry : ConeGeometry
        Acquisition geometry.
    voxel_size : float
        Voxel edge length, µm.
    center : sequence of float
        Physical position ``(z, y, x)`` of the volume centre, µm.
    gpu_index : int, optional
        CUDA device used by ASTRA.

    Returns
    -------
    numpy.ndarray
        ``(n_angles, det_rows, det_cols)`` float32 line integrals.
    """
    check_geometry(geometry)
    vs = check_voxel_size(voxel_size)
    c = check_center(center)
    vol = _as_float32(volume, "volume", 3)
    astra = _require_astra()
    vol_geom = _vol_geom(astra, cast(tuple[int, int, int], tuple(int(v) for v in vol.shape)), vs, c)
    proj_geom = _proj_geom(astra, geometry)
    kwargs = {} if gpu_index is None else {"gpuIndex": int(gpu_index)}
    sino_id, sino = astra.create_sino3d_gpu(vol, proj_geom, vol_geom, **kwargs)
    astra.data3d.delete(sino_id)
    return np.ascontiguousarray(np.asarray(sino, dtype=np.float32).transpose(1, 0, 2))


def astra_fdk_reconstruct(
    projections: np.ndarray,
    geometry: ConeGeometry,
    shape: Sequence[int],
    voxel_size: float,
    center: Sequence[float] = (0.0, 0.0, 0.0),
    filter: str = "ram-lak",
    gpu_index: int | None = None,
) -> np.ndarray:
    """FDK reconstruction with ASTRA ``FDK_CUDA`` (full scan, no short-scan weighting).

    Parameters
    ----------
    projections : numpy.ndarray
        ``(n_angles, det_rows, det_cols)`` line integrals matching ``geometry``.
    geometry : ConeGeometry
        Acquisition geometry; angles must cover 360°.
    shape : sequence of int
        Output shape ``(nz, ny, nx)``.
    voxel_size : float
        Voxel edge length, µm.
    center : sequence of float
        Physical position ``(z, y, x)`` of the volume centre, µm.
    filter : str
        One of :data:`ASTRA_FILTERS` (passed to ASTRA as ``FilterType``).
    gpu_index : int, optional
        CUDA device used by ASTRA.

    Returns
    -------
    numpy.ndarray
        Attenuation per unit length (1/µm), shape ``shape``, float32.
    """
    check_geometry(geometry)
    name = check_filter(filter)
    nz, ny, nx = check_shape(shape)
    vs = check_voxel_size(voxel_size)
    c = check_center(center)
    angular_weights(geometry.angles)  # same full-scan validation as the torch path
    proj = _as_float32(projections, "projections", 3)
    expected = (geometry.n_angles, geometry.det_rows, geometry.det_cols)
    if proj.shape != expected:
        raise ValueError(
            f"projections shape {proj.shape} does not match geometry "
            f"(n_angles, det_rows, det_cols) = {expected}"
        )
    astra = _require_astra()
    vol_geom = _vol_geom(astra, (nz, ny, nx), vs, c)
    proj_geom = _proj_geom(astra, geometry)
    sino_id = astra.data3d.create("-sino", proj_geom, np.ascontiguousarray(proj.transpose(1, 0, 2)))
    rec_id = astra.data3d.create("-vol", vol_geom, 0.0)
    alg_id = None
    try:
        cfg = astra.astra_dict("FDK_CUDA")
        cfg["ProjectionDataId"] = sino_id
        cfg["ReconstructionDataId"] = rec_id
        cfg["FilterType"] = name
        cfg["option"] = {"ShortScan": False}
        if gpu_index is not None:
            cfg["option"]["GPUindex"] = int(gpu_index)
        alg_id = astra.algorithm.create(cfg)
        astra.algorithm.run(alg_id)
        rec = np.asarray(astra.data3d.get(rec_id), dtype=np.float32)
    finally:
        if alg_id is not None:
            astra.algorithm.delete(alg_id)
        astra.data3d.delete([sino_id, rec_id])
    return np.ascontiguousarray(rec)
