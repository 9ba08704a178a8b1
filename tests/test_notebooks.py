"""The notebooks in ``notebooks/`` run top to bottom on the public API (quick setting, as in CI).

Each notebook reads ``PEROVSKITE_TB_QUICK=1`` in its parameter cell and then uses tiny NCs; the
kernel is the ``python3`` kernel of this interpreter (ipykernel). Committed notebooks carry no outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_four_notebooks_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    assert len(NOTEBOOKS) >= 4
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, (
                    f"{path.name}: outputs not stripped"
                )


def test_notebooks_use_the_public_api():
    """Notebooks import perovskite_tb, perovskite_tb.workflows and the model library, never perovskite_tb.app."""
    for path in NOTEBOOKS:
        assert "perovskite_tb.app" not in path.read_text(encoding="utf-8"), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_quick(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("PEROVSKITE_TB_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError with the failing cell's traceback
