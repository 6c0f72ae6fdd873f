"""The PACS course in notebooks/ (issue 9): every course notebook runs offline, top to bottom; exercises are checked.

Each exercise has a solution cell (source starting with ``# Solution``) right after it and a check cell
(source starting with ``# Check``) that asserts the answer, with a message saying what is wrong.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pacslab.testing.notebooks import NOTEBOOKS, execute_notebook

COURSE = [
    "00_quickstart.ipynb",
    "01_dicom_information_model.ipynb",
    "02_image_acquisition.ipynb",
    "03_storage.ipynb",
    "04_retrieval_and_presentation.ipynb",
    "05_communication_and_sharing.ipynb",
    "07_security.ipynb",
    "08_limitations_and_troubleshooting.ipynb",
]
TIMEOUT = 180  # seconds per notebook (each takes 3-15 s on 2 cores)


def _code_sources(name: str) -> list[str]:
    nb = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_course_notebooks_exist_and_are_listed() -> None:
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    for name in COURSE:
        assert (NOTEBOOKS / name).is_file(), f"{name} is missing"
        assert name in readme, f"{name} is not listed in notebooks/README.md"


@pytest.mark.parametrize("name", COURSE)
def test_every_exercise_has_a_solution_and_a_check(name: str) -> None:
    sources = _code_sources(name)
    exercises = [i for i, s in enumerate(sources) if s.lstrip().startswith("# Exercise")]
    checks = [i for i, s in enumerate(sources) if s.lstrip().startswith("# Check")]
    assert exercises, f"{name}: no exercise cell (a code cell starting with '# Exercise')"
    assert checks, f"{name}: no check cell (a code cell starting with '# Check')"
    for i in checks:
        assert "assert" in sources[i], f"{name}: check cell {i} has no assert"
    for i in exercises:
        assert i + 2 < len(sources), f"{name}: exercise cell {i} is not followed by a solution and a check"
        assert sources[i + 1].lstrip().startswith("# Solution"), f"{name}: exercise {i} is not followed by '# Solution'"
        assert sources[i + 2].lstrip().startswith("# Check"), f"{name}: solution {i + 1} is not followed by '# Check'"


@pytest.mark.parametrize("name", COURSE)
def test_exercise_cells_start_unanswered(name: str) -> None:
    """The exercise cell leaves the answer as None, so skipping the solution makes the check fail."""
    sources = _code_sources(name)
    for i, source in enumerate(sources):
        if source.lstrip().startswith("# Exercise"):
            assert "None" in source, f"{name}: exercise cell {i} should start the answer as None"


@pytest.mark.slow
@pytest.mark.parametrize("name", COURSE)
def test_course_notebook_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PACSLAB_ARCHIVE", raising=False)
    start = time.monotonic()
    nb = execute_notebook(NOTEBOOKS / name, cwd=tmp_path, timeout=TIMEOUT)
    seconds = time.monotonic() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert text.count("correct") >= sum(s.lstrip().startswith("# Exercise") for s in _code_sources(name))
    assert seconds < TIMEOUT, f"{name} took {seconds:.0f} s"
