"""notebooks/02_image_acquisition.ipynb runs offline, top to bottom."""

from __future__ import annotations

from pacslab.testing.notebooks import NOTEBOOKS, execute_notebook, notebook_text

NOTEBOOK = NOTEBOOKS / "02_image_acquisition.ipynb"


def test_walkthrough_notebook_executes():
    nb = execute_notebook(NOTEBOOK)
    text = notebook_text(nb)
    assert "C-ECHO status: 0x0" in text
    assert "byte-identical to what the archive received: True" in text
    assert "8 completed, 0 failed" in text
