"""Every cache key of every profile is the one recorded in tests/data (an existing cache is reused).

The recorded listings were made by ``scripts/cache_keys.py`` before the library was restructured;
a change that alters a key on purpose (a new algorithm, a changed default) must update them and
say so. They cover studies A and B, and (since the inference tiling left model keys) the trust
ensembles and the multiscale workflow, whose dry listing equals the keys a smoke run writes.
"""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _cache_keys():
    spec = importlib.util.spec_from_file_location("cache_keys", REPO / "scripts" / "cache_keys.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cache_keys


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_cache_keys_unchanged(profile):
    recorded = json.loads((REPO / "tests" / "data" / f"cache_keys_{profile}.json").read_text())
    now = _cache_keys()(profile)
    assert now.keys() == recorded.keys()
    for stage in recorded:
        assert now[stage] == recorded[stage], f"cache keys of stage {stage!r} changed"
    assert sum(len(v) for v in now.values()) > 100
