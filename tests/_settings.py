"""The flat settings of format 1, as model folders and settings files held them before the sections."""

from __future__ import annotations

from typing import Any


def flat_settings(settings: Any) -> dict[str, Any]:
    """Return a network's settings as format 1 held them: one dict, the architecture under "model"."""
    return {
        **settings.training.model_dump(mode="json"),
        "model": settings.architecture.model_dump(mode="json", exclude_unset=True),
        "inference_tile": settings.inference.tile,
        "inference_overlap": settings.inference.overlap,
    }
