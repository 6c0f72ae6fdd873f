from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pacslab.testing.notebooks import NOTEBOOKS, execute_notebook

nbformat = pytest.importorskip("nbformat")

NOTEBOOK = NOTEBOOKS / "05_viewer.ipynb"


@pytest.mark.slow
def test_viewer_notebook_runs(tmp_path: Path) -> None:
    """The cells run without a browser (the widgets render nothing there), without errors or warnings."""
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert all(c.get("execution_count") is None for c in committed.cells if c.cell_type == "code")
    nb = execute_notebook(
        NOTEBOOK, cwd=tmp_path, timeout=300, append=['import sys; print("kernel python:", sys.executable)']
    )
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    stderr = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "Warning" not in stderr, stderr
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert any(f"kernel python: {p}" in text for p in (sys.executable, os.path.realpath(sys.executable)))
    assert "Comprehensive 3D SR Storage" in text  # the SR export cell printed its SOP class
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 4  # browser, viewer, side by side, 3-D
