"""Settings of the volume networks (DeepNet, SRCNN), in three sections: architecture, training, inference.

A network's settings (:class:`DeepNetSettings`, :class:`SRCNNSettings`) hold

``architecture``
    the network itself (:class:`~xrsr_lib.models.deepnet.DeepNetConfig`,
    :class:`~xrsr_lib.models.srcnn.SRCNN3DConfig`);
``training``
    how it is trained (:class:`DeepNetTraining`, :class:`SRCNNTraining`): steps, batch, learning
    rate, samples, the loss mask and the stopping rule;
``inference``
    how a trained network is applied to a volume (:class:`InferenceTiling`): tiles and overlap.

A model's cache key is made of its architecture and training only (:meth:`VolumeSettings.key_dict`):
the tiling changes predictions, not weights, so predictions record it in their own keys. The key is
the one the settings had before they were split into sections, so existing caches stay valid.

:meth:`VolumeSettings.replace` takes the flat keywords a user types (``iterations=500``,
``loss_mask="none"``, ``depth=3``, ``inference_tile=96``) and routes each to its section.

Examples
--------
>>> from xrsr_lib.config import preset
>>> s = preset("deepnet", "smoke")
>>> s.training.iterations, s.inference.tile
(30, 40)
>>> s.replace(iterations=5, inference_tile=32).training.iterations
5
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from pydantic import BaseModel, Field, field_serializer

from xrsr_lib.config.base import Settings
from xrsr_lib.models.deepnet import DeepNetConfig
from xrsr_lib.models.srcnn import SRCNN3DConfig

__all__ = [
    "LOSS_MASKS",
    "METHODS",
    "DeepNetSettings",
    "DeepNetTraining",
    "InferenceTiling",
    "LossMask",
    "SRCNNSettings",
    "SRCNNTraining",
    "VolumeSettings",
    "VolumeTraining",
    "recorded_settings",
    "settings_class",
]

#: Where the training loss is computed: inside the cone-beam field-of-view circle of every slice
#: (reconstructions, whose corners are not data) or everywhere (rectangular crops).
LossMask = Literal["fov_circle", "none"]
LOSS_MASKS: tuple[str, ...] = get_args(LossMask)  # the names, for option choices and messages


class InferenceTiling(Settings):
    """How a trained volume network is applied to a volume: overlapping tiles, blended.

    DeepNet predicts ``(y, x)`` tiles of every slice stack; SRCNN predicts cubic blocks.
    """

    tile: int = Field(ge=4, description="tile side, voxels (DeepNet: (y, x) tiles; SRCNN: cubes)")
    overlap: int = Field(ge=0, description="overlap per side, voxels")


class VolumeTraining(Settings):
    """What the training of every volume network shares (DeepNet, SRCNN)."""

    _key_new_fields: ClassVar[tuple[str, ...]] = ("loss_mask", "patience", "keep_best", "precision")

    iterations: int = Field(ge=1, description="Adam steps")
    batch_size: int = Field(ge=1, description="tiles or patches per step")
    learning_rate: float = Field(
        default=1e-3,
        gt=0,
        description="peak Adam learning rate, the same for every volume network (its history: CHANGELOG.md)",
    )
    checkpoint_every: int = Field(default=100, ge=1, description="write checkpoint.pt every this many steps")
    learning_rate_schedule: Literal["cosine", "none"] = Field(
        default="cosine",
        description="cosine decay from learning_rate to learning_rate·learning_rate_min_factor over the "
        "iterations (the same rule for every volume network; the final weights are kept), or constant",
    )
    learning_rate_min_factor: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="final learning rate of the cosine schedule, fraction of learning_rate",
    )
    seed: int = Field(default=0, ge=0, description="seed of the initialization and of the batch sampling")
    validate_every: int = Field(
        default=50,
        ge=1,
        description="score the held-out data every this many steps and at the end (with held-out data)",
    )
    patience: int | None = Field(
        default=None,
        ge=1,
        description="stopping rule (with held-out data): end once this many validations in a row have not "
        "lowered the held-out loss; None runs every iteration",
    )
    keep_best: bool = Field(
        default=False,
        description="keep the weights of the lowest held-out loss (with held-out data), not the last",
    )
    precision: Literal["float32", "bfloat16"] = Field(
        default="float32",
        description="arithmetic of the training steps' forward pass: 'bfloat16' autocasts it (faster on "
        "CPUs with AMX or AVX-512 BF16 and on CUDA GPUs, slower on AVX2-only CPUs; the loss stays float32). "
        "Off by default: the weights then depend on the hardware",
    )
    loss_mask: LossMask = Field(
        default="fov_circle",
        description="'fov_circle': loss inside the circle a cone-beam scan reconstructs (each slice's "
        "inscribed circle); 'none': every voxel (rectangular crops of measured data)",
    )


class DeepNetTraining(VolumeTraining):
    """How DeepNet (2.5D U-Net) is trained (paper: 10,000 steps of 4 tiles of 512²)."""

    _key_new_fields = (*VolumeTraining._key_new_fields, "validate_every")  # validates since held-out data

    tile: int = Field(ge=8, description="training tile side, px (paper: 512)")


class SRCNNTraining(VolumeTraining):
    """How SRCNN 3D is trained: patch sampling, steps, batch, learning rate."""

    patch: int = Field(ge=4, description="cubic patch side, voxels")
    stride: int = Field(ge=1, description="stride between patches, voxels")
    validation_fraction: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="patches held out for validation when no held-out volume is given",
    )


#: Flat keywords of the inference section (:meth:`VolumeSettings.replace`), as the settings named them
#: before the split: keyword -> field of :class:`InferenceTiling`.
_INFERENCE_KEYWORDS = {"inference_tile": "tile", "inference_overlap": "overlap"}


class VolumeSettings(Settings):
    """A volume network's settings: ``architecture``, ``training`` and ``inference`` sections."""

    architecture: Any
    training: VolumeTraining
    inference: InferenceTiling

    @field_serializer("architecture")
    def _architecture_fields(self, architecture: Any) -> dict[str, Any]:
        # the fields set explicitly (what a preset names), as model keys and settings files hold them
        return architecture.model_dump(exclude_unset=True)

    def key_dict(self, with_excluded: bool = False) -> dict[str, Any]:
        """Return the settings as a model's cache key sees them: architecture and training.

        Parameters
        ----------
        with_excluded : bool
            Add the inference tiling as ``inference_tile`` / ``inference_overlap``: the key models
            had before the tiling left it.

        Returns
        -------
        dict
            The training section's :meth:`~xrsr_lib.config.base.Settings.key_dict` with the
            architecture (its explicitly set fields) under ``"model"``: the flat dict the keys were
            first made of.
        """
        data = self.training.key_dict()
        data["model"] = self.architecture.model_dump(exclude_unset=True)
        if with_excluded:
            data.update({k: getattr(self.inference, f) for k, f in _INFERENCE_KEYWORDS.items()})
        return data

    def replace(self, **overrides: Any) -> VolumeSettings:
        """Return these settings with fields replaced, each keyword routed to its section (validated).

        Parameters
        ----------
        **overrides
            A field of the training section (``iterations=500``, ``loss_mask="none"``), of the
            architecture (``depth=3``), ``inference_tile`` / ``inference_overlap`` (voxels), or a
            whole section: ``architecture`` (``model`` is its older name), ``training``,
            ``inference`` (a settings object or a dict of its fields, replacing the section).

        Returns
        -------
        VolumeSettings
            New settings of the same class.

        Raises
        ------
        ValueError
            A keyword names no field (listed), or a value is invalid (pydantic's ValidationError).
        """
        sections: dict[str, dict[str, Any]] = {
            name: self._section_dump(name) for name in ("architecture", "training", "inference")
        }
        fields = {name: set(type(getattr(self, name)).model_fields) for name in sections}
        unknown = []
        for key, value in overrides.items():
            section = "architecture" if key == "model" else key
            if section in sections:
                sections[section] = (
                    value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else value
                )
            elif key in _INFERENCE_KEYWORDS:
                sections["inference"][_INFERENCE_KEYWORDS[key]] = value
            elif key in fields["training"]:
                sections["training"][key] = value
            elif key in fields["architecture"]:
                sections["architecture"][key] = value
            else:
                unknown.append(key)
        if unknown:
            known = sorted(fields["training"] | fields["architecture"] | set(_INFERENCE_KEYWORDS))
            raise ValueError(
                f"{type(self).__name__} has no setting {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(known)}"
            )
        return type(self).model_validate(sections)

    def _section_dump(self, name: str) -> dict[str, Any]:
        section = getattr(self, name)
        return section.model_dump(exclude_unset=True) if name == "architecture" else section.model_dump()

    @classmethod
    def from_flat(cls, flat: dict[str, Any]) -> VolumeSettings:
        """Read the flat settings dict of format 1 (model folders and settings files before the split).

        Parameters
        ----------
        flat : dict
            Training fields, ``inference_tile``, ``inference_overlap`` and the architecture under
            ``"model"``, as ``config.json`` of a model folder held them under ``"training"``.

        Returns
        -------
        VolumeSettings
            The same settings in sections (their :meth:`key_dict` equals the flat dict's key).
        """
        rest = dict(flat)
        inference = {f: rest.pop(k) for k, f in _INFERENCE_KEYWORDS.items() if k in rest}
        architecture = rest.pop("model", {})
        return cls.model_validate({"architecture": architecture, "training": rest, "inference": inference})


class DeepNetSettings(VolumeSettings):
    """DeepNet (2.5D U-Net): architecture, training, inference (paper: 576² tiles overlapping by 32 px)."""

    architecture: DeepNetConfig = Field(default_factory=DeepNetConfig, description="the network")
    training: DeepNetTraining = Field(description="how it is trained")
    inference: InferenceTiling = Field(description="how it is applied: (y, x) tiles of every stack")


class SRCNNSettings(VolumeSettings):
    """SRCNN 3D: architecture, training (patches), inference (cubic blocks)."""

    architecture: SRCNN3DConfig = Field(default_factory=SRCNN3DConfig, description="the network")
    training: SRCNNTraining = Field(description="how it is trained")
    inference: InferenceTiling = Field(description="how it is applied: cubic blocks")


_CLASSES: dict[str, type[VolumeSettings]] = {"deepnet": DeepNetSettings, "srcnn": SRCNNSettings}
#: The volume methods: 2.5D U-Net ("deepnet") and SRCNN 3D ("srcnn").
METHODS: tuple[str, ...] = tuple(_CLASSES)


def settings_class(method: str) -> type[VolumeSettings]:
    """Return the settings class of a volume method.

    Parameters
    ----------
    method : {"deepnet", "srcnn"}

    Raises
    ------
    ValueError
        If ``method`` is not a volume method.
    """
    if method not in _CLASSES:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(_CLASSES)}")
    return _CLASSES[method]


def recorded_settings(config: dict[str, Any]) -> VolumeSettings:
    """Return the settings a volume model folder's ``config.json`` records.

    Parameters
    ----------
    config : dict
        The folder's ``config.json``: ``"method"`` and the settings in sections under ``"settings"``
        (format 2), or flat under ``"training"`` (format 1, folders written before the split).

    Returns
    -------
    DeepNetSettings or SRCNNSettings

    Raises
    ------
    ValueError
        If the method is no volume method or the record holds no settings.
    """
    cls = settings_class(str(config.get("method")))
    if isinstance(config.get("settings"), dict):
        return cls.model_validate(config["settings"])
    if isinstance(config.get("training"), dict):
        return cls.from_flat(config["training"])
    raise ValueError("the model's config.json records no settings ('settings' or 'training')")
