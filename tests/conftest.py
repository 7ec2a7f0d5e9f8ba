"""Shared fixtures: the reference data folder of ../shared and a per-test cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


def require_reference(name: str | None = None) -> Path:
    """``../shared/reference`` (outputs of Pelt's foam_ct_phantom), or the file ``name`` in it.

    Outside CI a missing folder or file skips the test with the reason; under CI (``CI=true``),
    where ``../shared`` is always laid beside the checkout, it fails the test: the comparisons with
    the original generator must never be skipped silently there.
    """
    path = REFERENCE if name is None else REFERENCE / name
    if not path.exists():
        reason = f"reference data not found at {path} (needs ../shared beside the checkout)"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{reason}; under CI=true this is an error, not a skip")
        pytest.skip(reason)
    return path


@pytest.fixture
def reference_dir() -> Path:
    """``../shared/reference``; see :func:`require_reference` (skip outside CI, fail under CI)."""
    return require_reference()


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Every test leaves ``os.environ`` as it found it. A dask LocalCluster's Nanny sets
    OMP_NUM_THREADS=1 (and MKL/OPENBLAS threads) in the process that starts it; left there, every
    later subprocess (the notebook kernels of the smoke end-to-end test) ran single-threaded."""
    saved = dict(os.environ)
    yield
    if dict(os.environ) != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread for a module (tiny networks gain nothing from more, and the CI
    machine has two cores shared with other work)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
