"""Under CI a missing ../shared/reference fails the suite; elsewhere it skips with the reason."""

import conftest
import pytest


def test_missing_reference_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "REFERENCE", tmp_path / "absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        conftest.require_reference("pelt_small_phantom.h5")


def test_missing_reference_skips_outside_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "REFERENCE", tmp_path / "absent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="reference data not found"):
        conftest.require_reference()


def test_present_reference_is_returned(monkeypatch, tmp_path):
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "a.h5").write_bytes(b"x")
    monkeypatch.setattr(conftest, "REFERENCE", tmp_path / "ref")
    monkeypatch.setenv("CI", "true")
    assert conftest.require_reference("a.h5") == tmp_path / "ref" / "a.h5"
