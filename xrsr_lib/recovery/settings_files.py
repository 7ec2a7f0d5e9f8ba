"""Settings files: a run reproducible from one file (``xrsr settings``, ``xrsr train --settings``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

from pydantic import ValidationError

from xrsr_lib.config import settings_class
from xrsr_lib.io.cache import write_json_atomic
from xrsr_lib.io.errors import XrsrInputError, XrsrInputExists, XrsrInputMissing
from xrsr_lib.recovery.state import RecoveryState
from xrsr_lib.train.volumes import METHODS

__all__ = ["SETTINGS_FORMAT", "SettingsFiles"]

#: The ``format`` field of a settings file (:meth:`SettingsFiles.save_settings`): version 2 holds the
#: sections ``architecture``, ``training`` and ``inference``; version 1 (read too) held them flat
#: under ``training``.
SETTINGS_FORMAT = "xrsr-settings/2"


class SettingsFiles(RecoveryState):
    """Read and write a method's settings as one JSON file.

    A part of :class:`~xrsr_lib.recovery.Recovery`.
    """

    @classmethod
    def from_settings(cls, path: str | Path, device: str | None = None, **overrides: Any) -> Self:
        """Build an unfitted method from a settings file: a run reproducible from one file.

        The file is one :meth:`save_settings` or ``xrsr settings`` wrote (format 1 files, flat, are
        read too); ``overrides`` replace settings as in :meth:`from_preset`.

        Raises
        ------
        XrsrInputError
            If the file is missing, is not JSON, names no known method or holds an invalid setting
            (the field named).
        """
        path = Path(path)
        if not path.is_file():
            raise XrsrInputMissing(
                f"no such settings file: {path} (write one with xrsr settings)", parameter="settings"
            )
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise XrsrInputError(
                f"{path} is not a settings file of xrsr ({err})", parameter="settings"
            ) from None
        method = doc.get("method") if isinstance(doc, dict) else None
        sections = ("architecture", "training", "inference")
        if method not in METHODS or not isinstance(doc.get("training"), dict):
            raise XrsrInputError(
                f"{path}: a settings file holds 'method' (one of {', '.join(METHODS)}) and the sections "
                f"{', '.join(map(repr, sections))} (xrsr settings writes one)",
                parameter="settings",
            )
        try:
            if doc.get("format") == "xrsr-settings/1":  # one flat dict under "training"
                settings = settings_class(method).from_flat(doc["training"])
            else:
                settings = settings_class(method).model_validate({k: doc[k] for k in sections if k in doc})
            settings = settings.replace(**overrides) if overrides else settings
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(v) for v in first["loc"])
            raise XrsrInputError(f"{path}: setting {where!r}: {first['msg']}", parameter="settings") from None
        except ValueError as err:  # an override that names no setting
            raise XrsrInputError(f"{path}: {err}", parameter="settings") from None
        return cls(method, settings, device)

    def save_settings(self, path: str | Path) -> Path:
        """Write this object's method and settings as JSON (atomically).

        The file holds ``format``, ``method`` and the sections ``architecture``, ``training`` and
        ``inference``: what :meth:`from_settings` and ``xrsr train --settings`` read.
        """
        path = Path(path)
        if path.exists():
            raise XrsrInputExists(f"{path} exists; choose a new name for the settings file", parameter="out")
        write_json_atomic(
            path,
            {"format": SETTINGS_FORMAT, "method": self.method, **self.settings.model_dump(mode="json")},
        )
        return path
