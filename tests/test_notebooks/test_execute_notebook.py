"""Notebooks run by the tests keep their temporary folders in one place, removed afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacslab.testing.notebooks import execute_notebook, notebook_text


@pytest.mark.slow
def test_a_notebooks_temporary_folders_are_removed(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import tempfile\nprint(tempfile.mkdtemp())")])
    path = tmp_path / "scratch.ipynb"
    nbformat.write(nb, path)
    done = execute_notebook(path, append=["print('appended ran')"])
    text = notebook_text(done)
    made = Path(text.split()[0])
    assert "appended ran" in text
    assert made.name.startswith("tmp") and made.parent.name.startswith("scratch-") and not made.exists()
