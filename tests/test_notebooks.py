"""The smoke profile of the notebooks runs headlessly under papermill, in order, sharing a cache."""

from pathlib import Path

import papermill as pm
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# notebooks run once per parameter set (run_all.sh runs 02 for every method and σ)
EXTRA = {"02": [{"method": "deepnet", "sigma": 3.0}, {"method": "srcnn", "sigma": 9.0}]}
RUNS = [(nb, extra) for nb in NOTEBOOKS for extra in EXTRA.get(nb.name[:2], [{}])]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    return {"cache": root / "cache", "figures": root / "figures", "executed": root / "executed"}


def test_every_notebook_has_a_parameters_cell_and_no_outputs():
    import nbformat

    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
        assert "profile" in tagged[0].source, f"{path.name}: parameters cell must define `profile`"
        for c in nb.cells:
            if c.cell_type == "code":
                assert not c.outputs and c.execution_count is None, f"{path.name}: outputs committed"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("notebook", "extra"), RUNS, ids=[f"{nb.stem}{''.join(f'-{v}' for v in e.values())}" for nb, e in RUNS]
)
def test_notebook_smoke(notebook, extra, workspace, monkeypatch):
    monkeypatch.setenv("XRSR_CACHE", str(workspace["cache"]))
    figures = workspace["figures"]
    before = set(figures.glob("*.png"))
    out = workspace["executed"] / f"{notebook.stem}{''.join(f'_{v}' for v in extra.values())}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(
        str(notebook),
        str(out),
        parameters={"profile": "smoke", "figure_dir": str(figures), **extra},
        cwd=str(REPO / "notebooks"),
        progress_bar=False,
    )
    produced = set(figures.glob("*.png")) - before
    assert produced, f"{notebook.name} wrote no new figure"
    for png in produced:
        assert png.stat().st_size > 1000
        assert png.with_suffix(".pdf").exists()
