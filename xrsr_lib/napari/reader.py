"""napari reader for xrsr results: an OME-Zarr pyramid and its trust map as two layers.

The image is opened lazily (Zarr arrays, one per pyramid level) as a multiscale layer whose
``scale`` is the voxel size in µm and whose ``translate`` is level 0's NGFF translation (when the
file records one). The trust image ``<out>/trust`` (half-widths of the calibrated intervals, grey
units) becomes a second layer with its own colormap, additive blending and a contrast range from
its half-widths (1st to 99th percentile of the coarsest level).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TRUST_COLORMAP", "get_reader", "read_result"]

#: Colormap of the trust layer (dark = narrow intervals, bright = wide ones).
TRUST_COLORMAP = "inferno"

LayerData = tuple[Any, dict[str, Any], str]


def _is_result(path: Path) -> bool:
    if not path.is_dir():
        return False
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception:  # noqa: BLE001 - not a Zarr group: not ours
        return False
    return "multiscales" in group.attrs and "xrsr" in group.attrs


def _levels(path: Path) -> tuple[list[Any], list[float], list[float], dict[str, Any]]:
    """Open a result's pyramid: the arrays of every level, level 0's scale and translation (µm).

    Also returns the group's ``xrsr`` record.
    """
    import zarr

    group = zarr.open_group(str(path), mode="r")
    ms = group.attrs["multiscales"][0]
    arrays = [group[d["path"]] for d in ms["datasets"]]
    scale, translate = [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]
    for t in ms["datasets"][0].get("coordinateTransformations", []):
        if t.get("type") == "scale":
            scale = [float(v) for v in t["scale"]]
        elif t.get("type") == "translation":
            translate = [float(v) for v in t["translation"]]
    return arrays, scale, translate, dict(group.attrs.get("xrsr", {}))


def _limits(coarsest: Any, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    values = np.asarray(coarsest[...], dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    a, b = (float(v) for v in np.percentile(values, [low, high]))
    return (a, b) if b > a else (a, a + 1.0)


def read_result(path: str | Path) -> list[LayerData]:
    """Return the layers of an xrsr result: the image and, when present, its trust map.

    Returns
    -------
    list of (data, kwargs, "image")
        napari layer data: ``data`` the list of pyramid levels (Zarr arrays; the array itself
        for a single level), ``kwargs`` with
        ``name``, ``scale`` (µm per voxel, z y x), ``translate`` (µm), ``multiscale``,
        ``contrast_limits``, ``metadata`` (the ``xrsr`` record) and, for the trust layer,
        ``colormap``, ``blending`` and ``opacity``.
    """
    path = Path(path)
    arrays, scale, translate, record = _levels(path)
    name = path.name.removesuffix(".zarr")
    layers: list[LayerData] = [
        (
            arrays if len(arrays) > 1 else arrays[0],
            {
                "name": name,
                "scale": scale,
                "translate": translate,
                "multiscale": len(arrays) > 1,
                "contrast_limits": _limits(arrays[-1], 0.5, 99.5),
                "metadata": {"xrsr": record, "path": str(path)},
            },
            "image",
        )
    ]
    trust = path / "trust"
    if _is_result(trust):
        t_arrays, t_scale, t_translate, t_record = _levels(trust)
        layers.append(
            (
                t_arrays if len(t_arrays) > 1 else t_arrays[0],
                {
                    "name": f"{name} trust (interval half-width)",
                    "scale": t_scale,
                    "translate": t_translate,
                    "multiscale": len(t_arrays) > 1,
                    "colormap": TRUST_COLORMAP,
                    "blending": "additive",
                    "opacity": 0.6,
                    "contrast_limits": _limits(t_arrays[-1]),
                    "metadata": {"xrsr": t_record, "path": str(trust)},
                },
                "image",
            )
        )
    return layers


def get_reader(path: str | list[str]) -> Callable[[Any], list[LayerData]] | None:
    """npe2 reader contribution: :func:`read_result` for an xrsr OME-Zarr result, else None."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    return (lambda p: read_result(p[0] if isinstance(p, list) else p)) if _is_result(Path(path)) else None
