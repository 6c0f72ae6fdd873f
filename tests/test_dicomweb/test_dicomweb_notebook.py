"""notebooks/04_dicomweb.ipynb runs offline, top to bottom, in under a minute."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04_dicomweb.ipynb"


@pytest.mark.slow
def test_dicomweb_notebook_executes() -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebook")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebook")
    pytest.importorskip("ipykernel", reason="ipykernel is needed to run the notebook")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "outputs must be stripped"
    start = time.monotonic()
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()  # fmt: skip
    assert time.monotonic() - start < 60
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "fetched pixels equal the archive's: True" in text
    assert "rendered by the server: PNG (256, 256)" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images
