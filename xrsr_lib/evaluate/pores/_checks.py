"""Argument checks shared by the pore segmentation and the per-pore morphometry.

The module is private to :mod:`xrsr_lib.evaluate.pores` (its leading underscore); its functions are
what the package's modules share.
"""

from __future__ import annotations

import math

import numpy as np

from xrsr_lib.io.validate import check_array, check_real

__all__ = ["check_image_and_mask", "check_labels", "check_voxel_size", "sphere_volume_voxels"]


def check_voxel_size(voxel_size_um: float) -> float:
    """Return ``voxel_size_um`` as a float, µm, if it is a finite number > 0; else raise ValueError."""
    return check_real(voxel_size_um, "voxel_size_um", 0.0, strict=True, unit=" µm")


def check_image_and_mask(image: np.ndarray, foam_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return a 3-D grey image as float32 and its foam mask as bool, checked.

    Raises
    ------
    ValueError
        A boolean or non-3-D image, a mask of another shape, a mask not boolean (or 0/1), an empty
        mask, or NaN or infinite values inside the mask.
    """
    img = check_array(image, "image", 3, finite=False, dtype=None)  # finite inside the mask, below
    if img.dtype == np.bool_:
        raise ValueError("image must hold grey values, got a boolean array")
    mask = np.asarray(foam_mask)
    if mask.shape != img.shape:
        raise ValueError(f"foam_mask shape {mask.shape} differs from image shape {img.shape}")
    if mask.dtype != np.bool_:
        if not np.issubdtype(mask.dtype, np.number) or not np.all((mask == 0) | (mask == 1)):
            raise ValueError("foam_mask must be boolean (or hold only 0 and 1)")
        mask = mask.astype(bool)
    if not mask.any():
        raise ValueError("foam_mask selects no voxel")
    img = img.astype(np.float32, copy=False)
    if not np.all(np.isfinite(img[mask])):
        raise ValueError("image contains NaN or infinite values inside the foam mask")
    return img, mask


def check_labels(labels: np.ndarray) -> np.ndarray:
    """Return ``labels`` as an array if it is a 3-D integer label image ``>= 0`` (0: background).

    Raises
    ------
    ValueError
        Another dimensionality, a non-integer dtype or a negative label.
    """
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise ValueError(f"labels must be 3-D (z, y, x), got shape {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be an integer array, got dtype {lab.dtype}")
    if lab.size and lab.min() < 0:
        raise ValueError("labels must be >= 0 (0 is background)")
    return lab


def sphere_volume_voxels(diameter_um: float, voxel_size_um: float) -> float:
    """Return the volume of a sphere of ``diameter_um`` (µm) in voxels of edge ``voxel_size_um`` (µm)."""
    return math.pi / 6.0 * (diameter_um / voxel_size_um) ** 3
