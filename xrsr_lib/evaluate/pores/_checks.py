"""Argument checks shared by the pore segmentation and the per-pore morphometry."""

from __future__ import annotations

import math

import numpy as np

from xrsr_lib.io.validate import check_array, check_real

__all__: list[str] = []


def _check_voxel_size(voxel_size_um: float) -> float:
    return check_real(voxel_size_um, "voxel_size_um", 0.0, strict=True, unit=" µm")


def _check_image_and_mask(image: np.ndarray, foam_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _check_labels(labels: np.ndarray) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise ValueError(f"labels must be 3-D (z, y, x), got shape {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"labels must be an integer array, got dtype {lab.dtype}")
    if lab.size and lab.min() < 0:
        raise ValueError("labels must be >= 0 (0 is background)")
    return lab


def _sphere_volume_voxels(diameter_um: float, voxel_size_um: float) -> float:
    return math.pi / 6.0 * (diameter_um / voxel_size_um) ** 3
