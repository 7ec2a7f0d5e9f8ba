"""Parameter-keyed on-disk cache with atomic writes.

Every heavy artifact lives at ``<cache_dir>/<stage>/<key>.h5`` with its parameters beside it in
``<key>.json``. The key is a hash of the canonical JSON of the parameters *and* of everything
upstream that made it (callers include upstream keys in ``params``), so changing any parameter
gives a new key and a stale file is never reused. Files appear under their final name only once
complete (written to a temporary name in the same folder, then ``os.replace``), so an interrupted
run leaves no half-written artifact behind; re-running resumes from the finished stages.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CACHE_FORMAT_VERSION",
    "Cache",
    "atomic_path",
    "canonical_params",
    "default_cache_dir",
    "param_key",
    "write_json_atomic",
]

log = logging.getLogger(__name__)

#: Bump when a stage's algorithm changes in a way that invalidates its cached outputs.
CACHE_FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$XRSR_CACHE`` if set, else ``cache/`` at the root of the xrsr checkout."""
    env = os.environ.get("XRSR_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "cache"


def canonical_params(obj: Any) -> Any:
    """Return parameters as plain JSON types with a stable representation.

    Sorted keys, lists and Python scalars: what :func:`param_key` hashes, and what a model folder
    records of its settings.
    """
    if isinstance(obj, dict):
        return {str(k): canonical_params(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [canonical_params(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [canonical_params(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return canonical_params(obj.item())
    if isinstance(obj, float):
        if not np.isfinite(obj):
            raise ValueError(f"cache parameters must be finite, got {obj}")
        # 3.0 and 3 describe the same parameter: hash them alike
        return int(obj) if obj.is_integer() and abs(obj) < 2**53 else obj
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return canonical_params(obj.model_dump())
    raise TypeError(f"cannot hash parameter of type {type(obj).__name__}: {obj!r}")


def param_key(params: dict[str, Any], length: int = 16) -> str:
    """Hex key of the canonical JSON of ``params`` (sha256, first ``length`` characters)."""
    text = json.dumps(canonical_params(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; move it into place only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    # the temporary name keeps the final suffix, so format-by-suffix writers (io.write_volume) work on it
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{final.suffix}", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; published files follow the umask
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as pretty JSON to ``path`` atomically."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(canonical_params(data), indent=2, sort_keys=True) + "\n")


class Cache:
    """Get-or-build store for artifacts keyed by the parameters that made them.

    Parameters
    ----------
    root : path-like, optional
        Cache folder; :func:`default_cache_dir` if omitted.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path_for(self, stage: str, params: dict[str, Any], suffix: str = ".h5") -> Path:
        """Return the path of the artifact of ``stage`` built with ``params`` (it may not exist yet).

        Parameters
        ----------
        stage : str
            Sub-folder of the cache root (no ``/``, not starting with ``.``).
        params : dict
            Parameters that made the artifact; their :func:`param_key` (with the stage and
            :data:`CACHE_FORMAT_VERSION`) names the file.
        suffix : str
            File suffix, ``".h5"`` by default.

        Raises
        ------
        ValueError
            If ``stage`` is not a valid folder name.
        """
        if not stage or "/" in stage or stage.startswith("."):
            raise ValueError(f"invalid cache stage name {stage!r}")
        key = param_key({"stage": stage, "format": CACHE_FORMAT_VERSION, **params})
        return self.root / stage / f"{key}{suffix}"

    def has(self, stage: str, params: dict[str, Any], suffix: str = ".h5") -> bool:
        """Whether ``get_or_build`` would find a usable artifact for ``(stage, params)`` (no build)."""
        final = self.path_for(stage, params, suffix)
        meta = final.with_suffix(".json")
        return final.exists() and meta.exists() and self._damage(final, meta) is None

    def get_or_build(
        self,
        stage: str,
        params: dict[str, Any],
        build: Callable[[Path], None],
        suffix: str = ".h5",
    ) -> Path:
        """Return the artifact for ``(stage, params)``, building it first if it is missing.

        ``build(tmp_path)`` must write the complete artifact to ``tmp_path``; it is renamed to
        its final name only after ``build`` returns. The parameters (plus build time) are
        stored as ``<key>.json`` beside it.
        """
        final = self.path_for(stage, params, suffix)
        meta = final.with_suffix(".json")
        if final.exists() and meta.exists():
            problem = self._damage(final, meta)
            if problem is None:
                log.info("cache hit  %-16s %s", stage, final.name)
                return final
            log.warning("cache artifact %s of stage %r is damaged (%s): rebuilding it", final, stage, problem)
            final.unlink()
            meta.unlink()
        log.info("cache miss %-16s %s: building", stage, final.name)
        t0 = time.perf_counter()
        with atomic_path(final) as tmp:
            build(tmp)
        elapsed = time.perf_counter() - t0
        write_json_atomic(
            meta,
            {
                "stage": stage,
                "params": params,
                "build_seconds": round(elapsed, 3),
                "bytes": final.stat().st_size,
            },
        )
        log.info("built      %-16s %s in %.1f s", stage, final.name, elapsed)
        return final

    @staticmethod
    def _damage(artifact: Path, meta: Path) -> str | None:
        """Return why a cached file cannot be used (None if it can).

        A size other than the one recorded at build time (truncated), unreadable parameters, or an
        HDF5 file that does not open.
        """
        try:
            recorded = json.loads(meta.read_text()).get("bytes")
        except (OSError, json.JSONDecodeError) as err:
            return f"its parameter file {meta.name} is unreadable: {err}"
        size = artifact.stat().st_size
        if recorded is not None and size != recorded:
            return f"{size} bytes on disk, {recorded} when it was built"
        if artifact.suffix == ".h5":
            import h5py

            try:
                with h5py.File(artifact, "r") as f:
                    f.visititems(lambda _name, obj: None)
            except Exception as err:  # h5py raises OSError, KeyError or RuntimeError on damaged files
                return f"HDF5 does not open: {err}"
        return None

    def metadata(self, artifact: Path) -> dict[str, Any]:
        """Return the JSON stored beside a cached artifact."""
        return json.loads(Path(artifact).with_suffix(".json").read_text())
