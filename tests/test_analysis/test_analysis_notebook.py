"""notebooks/06_cohort_analysis.ipynb runs offline, top to bottom."""

from __future__ import annotations

from pacslab.testing.notebooks import NOTEBOOKS, execute_notebook, notebook_text

NOTEBOOK = NOTEBOOKS / "06_cohort_analysis.ipynb"


def test_cohort_notebook_executes():
    nb = execute_notebook(NOTEBOOK)
    text = notebook_text(nb)
    assert "5 series, 45 values, 5 derived volumes, 0 failed" in text
    assert "['Body', 'Lung', 'Bone'] referencing" in text
    assert "emphysema-index" in text
