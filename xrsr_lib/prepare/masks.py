"""Masks of where an image holds measured data: the cone-beam field of view, the foam's bulk.

A loss or a score restricted to a mask ignores what lies outside it. Which mask a training uses
is the setting ``loss_mask`` (:data:`LOSS_MASKS`): ``"fov_circle"`` for cone-beam
reconstructions, whose corners outside the reconstructed circle are not data, ``"none"`` for
rectangular crops that are data everywhere.
"""

from __future__ import annotations

import numpy as np

from xrsr_lib.config.networks import LOSS_MASKS, LossMask  # defined once, with the setting

__all__ = ["LOSS_MASKS", "LossMask", "cylinder_mask", "disc_mask", "fov_mask", "loss_mask"]


def disc_mask(shape_yx: tuple[int, int], radius_voxels: float) -> np.ndarray:
    """(y, x) mask of voxel centres within ``radius_voxels`` of the slice centre."""
    ny, nx = shape_yx
    yy = np.arange(ny) - (ny - 1) / 2.0
    xx = np.arange(nx) - (nx - 1) / 2.0
    return yy[:, None] ** 2 + xx[None, :] ** 2 <= radius_voxels**2


def cylinder_mask(shape: tuple[int, int, int], radius_voxels: float) -> np.ndarray:
    """(z, y, x) mask of a centred cylinder along z (the foam's bulk)."""
    return np.broadcast_to(disc_mask(shape[1:], radius_voxels), tuple(shape))


def fov_mask(shape_yx: tuple[int, int], radius: float | None = None) -> np.ndarray:
    """Circular field of view in a (y, x) slice: voxel centres within ``radius`` px of the centre.

    The default radius is half the smaller side: the circle a cone-beam scan reconstructs when the
    detector just covers the slice. Outside it the reconstruction is not measured data.
    """
    r = min(shape_yx) / 2.0 if radius is None else float(radius)
    if r <= 0:
        raise ValueError(f"field-of-view radius must be > 0, got {r}")
    return disc_mask(shape_yx, r)


def loss_mask(kind: str, shape_yx: tuple[int, int]) -> np.ndarray:
    """Return the (y, x) mask of the setting ``loss_mask``: the field-of-view circle, or every voxel.

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`LOSS_MASKS`.
    """
    if kind == "fov_circle":
        return fov_mask(shape_yx)
    if kind == "none":
        return np.ones(shape_yx, dtype=bool)
    raise ValueError(f"unknown loss_mask {kind!r}; choose one of {', '.join(LOSS_MASKS)}")
