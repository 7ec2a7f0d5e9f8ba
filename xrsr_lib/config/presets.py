"""Training presets for one's own volumes: a method's settings at the size of a run profile.

``smoke`` trains a tiny network for seconds (tests), ``cpu`` the networks of the ``cpu`` study
profile (minutes on a 2-core laptop), ``paper`` the study's sizes (a GPU). The presets are the
profiles' own settings, so a model trained with ``preset("deepnet", "cpu")`` on a user's pair is
the network study A trains on the ``cpu`` profile.
"""

from __future__ import annotations

from typing import Any

from xrsr_lib.config.profiles import PROFILE_NAMES, load_profile
from xrsr_lib.config.training import DeepNetTraining, SRCNNTraining

__all__ = ["METHODS", "PRESET_NAMES", "preset"]

#: Volume methods a preset exists for.
METHODS: tuple[str, ...] = ("deepnet", "srcnn")
#: Preset names (the run profiles).
PRESET_NAMES: tuple[str, ...] = PROFILE_NAMES


def preset(method: str, name: str = "cpu", **overrides: Any) -> DeepNetTraining | SRCNNTraining:
    """Training settings of ``method`` under preset ``name``, with fields replaced by ``overrides``.

    Parameters
    ----------
    method : {"deepnet", "srcnn"}
    name : {"smoke", "cpu", "paper"}
    **overrides
        Setting fields to change (validated), e.g. ``iterations=200, loss_mask="none"``.

    Raises
    ------
    ValueError
        Unknown method or preset, or an invalid override.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}")
    settings = getattr(load_profile(name).methods, method)
    if not overrides:
        return settings
    return type(settings).model_validate({**settings.model_dump(), **overrides})
