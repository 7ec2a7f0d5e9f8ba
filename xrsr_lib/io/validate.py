"""One validator for every array the library accepts.

Each public function checks its array arguments with :func:`check_array`, so a wrong shape, an
empty or complex array, or a NaN gets the same clear message everywhere, naming the argument.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["check_array", "check_int", "check_real", "check_same_shape", "check_volume"]


def check_array(
    array: object,
    name: str = "array",
    ndim: int | tuple[int, ...] | None = 3,
    *,
    cubic: bool = False,
    finite: bool = True,
    dtype: type | None = np.float32,
    min_shape: tuple[int, ...] | None = None,
    axes: str = "",
) -> np.ndarray:
    """Validate an array argument and return it (as ``dtype`` unless ``dtype`` is None).

    Parameters
    ----------
    array : array-like
        The value to check.
    name : str
        How the argument is named in error messages (a parameter name or a file path).
    ndim : int or tuple of int or None
        Allowed dimensionalities; None accepts any.
    cubic : bool
        Require equal sides (the study's volumes are cubic).
    finite : bool
        Reject NaN and infinite values.
    dtype : numpy dtype or None
        Convert to this dtype (no copy when it already is); None keeps the dtype.
    min_shape : tuple of int, optional
        Smallest allowed size per axis.
    axes : str
        What the axes are, named in the dimensionality message (e.g. ``"(n_angles, rows, cols)"``).

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        With a message naming ``name`` and what is wrong.
    """
    arr = np.asarray(array)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and arr.ndim not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name} must be {want}{' ' + axes if axes else ''}, got shape {arr.shape}")
    if arr.size == 0 or (arr.ndim and min(arr.shape) == 0):
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if cubic and len(set(arr.shape)) != 1:
        raise ValueError(f"{name} must be cubic (equal sides), got shape {arr.shape}")
    if min_shape is not None and any(s < m for s, m in zip(arr.shape, min_shape, strict=False)):
        raise ValueError(f"{name} has shape {arr.shape}, smaller than the minimum {tuple(min_shape)}")
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr if dtype is None else arr.astype(dtype, copy=False)


def check_volume(volume: object, name: str = "volume", ndim: int = 3, cubic: bool = False) -> np.ndarray:
    """Return a finite, real, non-empty ``ndim``-D array as float32 (:func:`check_array` for volumes)."""
    return check_array(volume, name, ndim, cubic=cubic)


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str, hint: str = "") -> None:
    """Raise a ValueError naming both arguments when their shapes differ."""
    if np.shape(a) != np.shape(b):
        raise ValueError(
            f"{name_a} and {name_b} shapes differ: {np.shape(a)} vs {np.shape(b)}"
            + (f" ({hint})" if hint else "")
        )


def check_int(value: object, name: str, minimum: int | None = None) -> int:
    """Return an integer argument (not a bool) of at least ``minimum``, as ``int``.

    Raises
    ------
    ValueError
        Naming ``name``, the bound and the value.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_real(
    value: object, name: str, minimum: float | None = None, *, strict: bool = False, unit: str = ""
) -> float:
    """Return a finite real argument (not a bool), ``>= minimum`` (``> minimum`` if ``strict``), as ``float``.

    ``unit`` (e.g. ``" µm"``, ``" voxels"``) is named in the message.

    Raises
    ------
    ValueError
        Naming ``name``, the bound and the value.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(float(value))
    ):
        raise ValueError(f"{name} must be a finite number{unit and ' of' + unit}, got {value!r}")
    v = float(value)
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g}{unit}, got {value!r}")
    return v
