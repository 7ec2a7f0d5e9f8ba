"""Shared fixtures: the reference data folder of ../shared and a per-test cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture
def reference_dir() -> Path:
    """../shared/reference (outputs of Pelt's foam_ct_phantom); skips with a reason if absent."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE} (needs ../shared beside the checkout)")
    return REFERENCE


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread for a module (tiny networks gain nothing from more, and the CI
    machine has two cores shared with other work)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
