"""The smoke profile of every notebook runs headlessly under papermill."""

from pathlib import Path

import papermill as pm
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_smoke(notebook, tmp_path, monkeypatch):
    monkeypatch.setenv("XRSR_CACHE", str(tmp_path / "cache"))
    figures = tmp_path / "figures"
    pm.execute_notebook(
        str(notebook),
        str(tmp_path / notebook.name),
        parameters={"profile": "smoke", "figure_dir": str(figures)},
        cwd=str(REPO / "notebooks"),
        progress_bar=False,
    )
    produced = list(figures.glob("*.png"))
    assert produced, "notebook wrote no figure"
    for png in produced:
        assert png.stat().st_size > 1000
        assert png.with_suffix(".pdf").exists()
