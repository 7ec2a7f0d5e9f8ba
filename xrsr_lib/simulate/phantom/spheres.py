"""Void lists of the foam phantom: validation and foam_ct_phantom's flat layout.

A void list is an ``(N, 5)`` array of rows ``(x, y, z, r, c)``; ``foam_ct_phantom`` stores the
same numbers flat, ``(5N,)`` float32. The scalar checks shared by the generator and the
voxelizer live here too.
"""

from __future__ import annotations

import math
import operator

import numpy as np

__all__ = ["spheres_from_flat", "spheres_to_flat"]


def as_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` as an int ``>= minimum`` or raise a ValueError naming ``name``."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        ivalue = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if ivalue < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {ivalue}")
    return int(ivalue)


def as_float(value: object, name: str) -> float:
    """Return ``value`` as a finite float or raise a ValueError naming ``name``."""
    try:
        fvalue = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(fvalue):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return fvalue


def check_spheres(spheres: np.ndarray) -> np.ndarray:
    """Validate a void list and return it as contiguous float64 ``(N, 5)``."""
    arr = np.asarray(spheres)
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError(f"spheres must have shape (N, 5) (x, y, z, r, c), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"spheres must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("spheres must contain only finite values")
    if np.any(arr[:, 3] < 0):
        raise ValueError("spheres radii (column 3) must be >= 0")
    return arr


def spheres_to_flat(spheres: np.ndarray) -> np.ndarray:
    """Convert an ``(N, 5)`` void list to foam_ct_phantom's flat float32 ``(5N,)`` layout."""
    return check_spheres(spheres).astype(np.float32).ravel()


def spheres_from_flat(flat: np.ndarray) -> np.ndarray:
    """Convert foam_ct_phantom's flat ``(5N,)`` layout (x, y, z, r, c per void) to ``(N, 5)`` float32."""
    arr = np.asarray(flat)
    if arr.ndim != 1 or arr.size % 5 != 0:
        raise ValueError(f"flat must be 1-D with a length divisible by 5, got shape {arr.shape}")
    return check_spheres(arr.reshape(-1, 5)).astype(np.float32)
