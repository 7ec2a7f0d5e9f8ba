"""Training presets for one's own volumes: a method's settings at the size of a run profile.

``smoke`` trains a tiny network for seconds (tests), ``cpu`` the networks of the ``cpu`` study
profile (minutes on a 2-core laptop), ``paper`` the study's sizes (a GPU). The presets are the
profiles' own settings, so a model trained with ``preset("deepnet", "cpu")`` on a user's pair is
the network study A trains on the ``cpu`` profile.
"""

from __future__ import annotations

from typing import Any

from xrsr_lib.config.networks import METHODS, VolumeSettings
from xrsr_lib.config.profiles import PROFILE_NAMES, load_profile

__all__ = ["METHODS", "PRESET_NAMES", "preset"]

#: Preset names (the run profiles).
PRESET_NAMES: tuple[str, ...] = PROFILE_NAMES


def preset(method: str, name: str = "cpu", **overrides: Any) -> VolumeSettings:
    """Return the settings of ``method`` under preset ``name``, with fields replaced by ``overrides``.

    Parameters
    ----------
    method : {"deepnet", "srcnn"}
    name : {"smoke", "cpu", "paper"}
    **overrides
        Setting fields to change (validated), each routed to its section by
        :meth:`~xrsr_lib.config.networks.VolumeSettings.replace`, e.g.
        ``iterations=200, loss_mask="none"`` (training), ``depth=3`` (architecture),
        ``inference_tile=96`` (inference).

    Returns
    -------
    DeepNetSettings or SRCNNSettings
        The ``architecture``, ``training`` and ``inference`` sections.

    Raises
    ------
    ValueError
        Unknown method or preset, or an invalid override.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}")
    settings: VolumeSettings = getattr(load_profile(name).methods, method)
    return settings.replace(**overrides) if overrides else settings
