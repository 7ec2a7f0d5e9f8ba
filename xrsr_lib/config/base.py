"""The base of every typed setting: frozen, validated, no unknown fields, stable cache keys."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

__all__ = ["Settings"]


class Settings(BaseModel):
    """Frozen pydantic settings (``extra="forbid"``: a misspelt field is an error).

    :meth:`key_dict` is what cache keys hash: the fields as they were named when the cache keys
    were first written (``_key_aliases``: new name -> old name), without fields added later whose
    default reproduces the old behaviour (``_key_new_fields``) while they keep that default. So a
    renamed or added setting does not invalidate existing caches; a changed value does.
    Fields that do not change the artifact a key names (``_key_excluded``: e.g. the inference tile of
    a network's training settings, which changes predictions, not the trained weights) are left out;
    ``key_dict(with_excluded=True)`` gives the key as it was before they were left out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    _key_aliases: ClassVar[dict[str, str]] = {}
    _key_new_fields: ClassVar[tuple[str, ...]] = ()
    _key_excluded: ClassVar[tuple[str, ...]] = ()

    def key_dict(self, with_excluded: bool = False) -> dict[str, Any]:
        """The settings as cache keys see them (see the class docstring)."""
        data = self.model_dump()
        if not with_excluded:
            for name in self._key_excluded:
                data.pop(name, None)
        for name in self._key_new_fields:
            if getattr(self, name) == type(self).model_fields[name].default:
                data.pop(name)
        for new, old in self._key_aliases.items():
            if new in data:
                data[old] = data.pop(new)
        return data
