"""notebooks/06_cohort_analysis.ipynb runs offline, top to bottom, in under three minutes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_cohort_analysis.ipynb"


def test_cohort_notebook_executes():
    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebook")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebook")
    pytest.importorskip("ipykernel", reason="ipykernel is needed to run the notebook")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "outputs must be stripped"
    start = time.monotonic()
    nbclient.NotebookClient(
        nb, timeout=170, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    assert time.monotonic() - start < 180
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "5 series, 45 values, 5 derived volumes, 0 failed" in text
    assert "['Body', 'Lung', 'Bone'] referencing" in text
    assert "emphysema-index" in text
