"""The base of every typed setting: frozen, validated, no unknown fields, stable cache keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict

__all__ = ["Settings"]


class Settings(BaseModel):
    """Frozen pydantic settings (``extra="forbid"``: a misspelt field is an error).

    :meth:`key_dict` is what cache keys hash: the fields as they were named when the cache keys
    were first written (``_key_aliases``: new name -> old name), without fields added later whose
    default reproduces the old behaviour (``_key_new_fields``) while they keep that default. So a
    renamed or added setting does not invalidate existing caches; a changed value does.
    A settings class whose sections do not all change the artifact a key names overrides
    :meth:`key_dict` (a volume network's: :meth:`~xrsr_lib.config.networks.VolumeSettings.key_dict`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    _key_aliases: ClassVar[dict[str, str]] = {}
    _key_new_fields: ClassVar[tuple[str, ...]] = ()

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Return a copy with fields replaced (pydantic's copy; the values are not validated).

        Raises
        ------
        ValueError
            If ``update`` names a field the settings do not have: pydantic would store it unseen.
        """
        unknown = sorted(set(update or {}) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field {', '.join(map(repr, unknown))}")
        return super().model_copy(update=update, deep=deep)

    def key_dict(self) -> dict[str, Any]:
        """Return the settings as cache keys see them (see the class docstring)."""
        data = self.model_dump()
        for name in self._key_new_fields:
            if getattr(self, name) == type(self).model_fields[name].default:
                data.pop(name)
        for new, old in self._key_aliases.items():
            if new in data:
                data[old] = data.pop(new)
        return data
