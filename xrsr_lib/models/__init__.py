"""Network architectures and a registry to build them by name.

Each entry of :data:`MODELS` pairs a ``torch.nn.Module`` class with its pydantic configuration
class; the module's ``__init__`` takes one such configuration (or ``None`` for the defaults) and
keeps it as ``.config``, so ``build_model(name, model.config.model_dump())`` rebuilds the same
architecture.

Examples
--------
>>> from xrsr_lib.models import build_model, count_parameters
>>> net = build_model("deepnet", {"base_width": 8, "depth": 2})
>>> count_parameters(net)
30989
"""

from __future__ import annotations

from pydantic import BaseModel
from torch import nn

from xrsr_lib.models.deepnet import DeepNet, DeepNetConfig
from xrsr_lib.models.rrdbnet import RRDBNet, RRDBNetConfig
from xrsr_lib.models.srcnn import SRCNN3D, SRCNN3DConfig
from xrsr_lib.models.swinir import SwinIR, SwinIRConfig
from xrsr_lib.models.utsr import UTSR, UTSRConfig

__all__ = [
    "MODELS",
    "DeepNet",
    "DeepNetConfig",
    "RRDBNet",
    "RRDBNetConfig",
    "SRCNN3D",
    "SRCNN3DConfig",
    "SwinIR",
    "SwinIRConfig",
    "UTSR",
    "UTSRConfig",
    "build_model",
    "count_parameters",
    "model_config_class",
]

MODELS: dict[str, tuple[type[nn.Module], type[BaseModel]]] = {
    "deepnet": (DeepNet, DeepNetConfig),
    "srcnn": (SRCNN3D, SRCNN3DConfig),
    # study B (2D super-resolution of nano-CT slices)
    "utsr": (UTSR, UTSRConfig),
    "swinir": (SwinIR, SwinIRConfig),
    "rrdbnet": (RRDBNet, RRDBNetConfig),
}


def _lookup(method: str) -> tuple[type[nn.Module], type[BaseModel]]:
    try:
        return MODELS[method]
    except KeyError:
        raise ValueError(f"unknown model method {method!r}; choose one of {sorted(MODELS)}") from None


def model_config_class(method: str) -> type[BaseModel]:
    """Return the configuration class of the model registered as ``method``."""
    return _lookup(method)[1]


def build_model(method: str, config: dict | BaseModel | None = None) -> nn.Module:
    """Instantiate the model registered as ``method``.

    Parameters
    ----------
    method
        A key of :data:`MODELS` (``"deepnet"``, ``"srcnn"``, ...).
    config
        ``None`` for the defaults, a dict of configuration fields (validated), or an instance of
        the method's configuration class.

    Raises
    ------
    ValueError
        If ``method`` is unknown or ``config`` is a configuration of another model.
    pydantic.ValidationError
        If the dict has unknown fields or out-of-range values.
    """
    model_cls, config_cls = _lookup(method)
    if config is None:
        cfg = config_cls()
    elif isinstance(config, config_cls):
        cfg = config
    elif isinstance(config, BaseModel):
        raise ValueError(f"model {method!r} needs a {config_cls.__name__}, got a {type(config).__name__}")
    elif isinstance(config, dict):
        cfg = config_cls.model_validate(config)
    else:
        raise ValueError(
            f"config must be a dict, a {config_cls.__name__} or None, got {type(config).__name__}"
        )
    return model_cls(cfg)


def count_parameters(model: nn.Module) -> int:
    """Count the trainable parameters (``requires_grad``) of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
