"""notebooks/04_dicomweb.ipynb runs offline, top to bottom."""

from __future__ import annotations

import pytest

from pacslab.testing.notebooks import NOTEBOOKS, execute_notebook, notebook_text

NOTEBOOK = NOTEBOOKS / "04_dicomweb.ipynb"


@pytest.mark.slow
def test_dicomweb_notebook_executes() -> None:
    nb = execute_notebook(NOTEBOOK)
    text = notebook_text(nb)
    assert "fetched pixels equal the archive's: True" in text
    assert "rendered by the server: PNG (256, 256)" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images
