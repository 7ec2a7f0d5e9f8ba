"""xrsr: reproducible deep-learning resolution recovery for 3D X-ray microscopy and CT.

The public front door::

    from xrsr_lib import Recovery, read_volume, write_volume, preset, register_scans, open_volume

    rec = Recovery.from_preset("deepnet", "cpu").fit(lres, hres)   # train on a registered pair
    rec.save("model"); Recovery.load("model").predict(volume)      # reuse it
    reg = register_scans("lres.tif", "hres.tif", offset_um=(0, 0, 0))   # two scans of one sample
    rec.fit_scans("lres.tif", "hres.tif", reg.pose).predict_to_zarr("lres.tif", "lfov.zarr")

Underneath, the library follows the data: ``config`` (typed settings and presets) and ``io``
(volumes, cache) -> ``simulate`` (phantoms, CT, nano-CT) -> ``prepare`` (masks, normalization)
-> ``train`` (one resumable loop) / ``infer`` (tiling, loaded models) / ``restore``
(Richardson-Lucy, NLM) / ``evaluate`` (metrics, pores, cracks, IQA) -> ``studies`` (the two
studies' stages, tables and figures). Lower layers never import higher ones.
"""

from typing import TYPE_CHECKING, Any

from xrsr_lib.config import PRESET_NAMES, load_profile, preset
from xrsr_lib.io.volumes import read_volume, write_volume

if TYPE_CHECKING:
    from xrsr_lib.io.lazy import open_volume
    from xrsr_lib.recovery import Recovery, register_scans

__version__ = "0.1.0"  # the one version string: pyproject.toml reads it (dynamic version)


def __getattr__(name: str) -> Any:
    # the facade pulls in the training stack (torch, networks); import it on first use only, so
    # ``import xrsr_lib.io`` stays light
    if name in ("Recovery", "register_scans"):
        from xrsr_lib import recovery

        return getattr(recovery, name)
    if name == "open_volume":
        from xrsr_lib.io.lazy import open_volume

        return open_volume
    raise AttributeError(f"module 'xrsr_lib' has no attribute {name!r}")


#: Preset names of :func:`preset` and :meth:`Recovery.from_preset`.
presets = PRESET_NAMES

__all__ = [
    "PRESET_NAMES",
    "Recovery",
    "__version__",
    "load_profile",
    "open_volume",
    "preset",
    "presets",
    "read_volume",
    "register_scans",
    "write_volume",
]
