"""Run the course notebooks in tests: one way to execute a notebook and read what it printed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["NOTEBOOKS", "execute_notebook", "notebook_text"]

#: The repository's notebooks folder (when pacslab runs from a checkout).
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute_notebook(
    path: str | Path, *, cwd: str | Path | None = None, timeout: int = 180, append: Sequence[str] = ()
) -> Any:
    """Execute a notebook top to bottom with the ``python3`` kernel; returns it with its outputs.

    The code cells *append* run after the notebook's own. The kernel's ``TMPDIR`` is a folder
    removed afterwards, so that the temporary folders a notebook makes do not pile up.
    Skips the calling test (with the reason) when nbformat, nbclient or ipykernel are missing, and
    fails it when the committed notebook still holds outputs.
    """
    import pytest

    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebooks")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebooks")
    pytest.importorskip("ipykernel", reason="ipykernel is needed to run the notebooks")
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name}: strip its outputs"
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in append)
    resources = {"metadata": {"path": str(cwd or path.parent)}}
    with tempfile.TemporaryDirectory(prefix=f"{path.stem}-", ignore_cleanup_errors=True) as scratch:
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", resources=resources)
        client.execute(env={**os.environ, "TMPDIR": scratch})
    return nb


def notebook_text(nb: Any) -> str:
    """Everything an executed notebook printed or displayed as text."""
    return "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
