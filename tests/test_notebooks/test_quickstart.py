"""notebooks/00_quickstart.ipynb runs offline, top to bottom, fast; every notebook in git is committed stripped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "notebooks" / "00_quickstart.ipynb"
TIMEOUT = 120  # seconds per cell; the whole notebook takes ~25 s on 2 cores


def _notebooks_in_git() -> list[Path]:
    """``notebooks/*.ipynb`` that git tracks or would add (untracked, not ignored); every file when git is absent."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "notebooks/*.ipynb"],
            cwd=REPO, capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        paths = {REPO / line for line in out.splitlines() if line.strip()}
    except (OSError, subprocess.SubprocessError):
        paths = set((REPO / "notebooks").glob("*.ipynb"))
    return sorted(p for p in paths if p.exists())


@pytest.mark.parametrize("path", _notebooks_in_git(), ids=lambda p: p.name)
def test_notebook_is_committed_stripped(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb.get("nbformat") == 4, f"{path.name}: not an nbformat-4 notebook"
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts; strip them before committing"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name}: saved widget state in the notebook metadata"


def test_quickstart_is_among_the_checked_notebooks() -> None:
    assert QUICKSTART in _notebooks_in_git()


def _execute(workdir: Path) -> tuple[str, list[dict], float]:
    """Run the quickstart with ``workdir`` as the kernel's working directory.

    Returns the text it printed or displayed, its outputs, and the seconds it took.
    """
    nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebook")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebook")
    pytest.importorskip("ipykernel", reason="ipykernel is needed to run the notebook")
    nb = nbformat.read(QUICKSTART, as_version=4)
    # which Python ran it: the kernel must be this venv's, not some other python3 kernelspec
    nb.cells.append(nbformat.v4.new_code_cell('import sys; print("kernel python:", sys.executable)'))
    start = time.monotonic()
    nbclient.NotebookClient(
        nb, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    ).execute()
    seconds = time.monotonic() - start
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)
    stderr = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert "Warning" not in stderr, f"the notebook shows warnings:\n{stderr}"
    assert f"kernel python: {sys.executable}" in text or f"kernel python: {os.path.realpath(sys.executable)}" in text
    return text, outputs, seconds


def _common_checks(text: str, outputs: list[dict]) -> None:
    assert re.search(r"CT studies in 2024 of PatientName='\w+\*'", text)
    assert "CT CHEST FOLLOW-UP" in text  # the filtered search found the follow-up study
    assert "KVP" in text and "ConvolutionKernel" in text  # fields=[...] columns
    assert "dask.array" in text and "(z: 40, y: 512, x: 512)" in text  # the lazy volume
    assert "spacing         (2.5, 0.7, 0.7)" in text
    assert "shown 143 x 512" in text  # coronal stretched by dz/dx = 2.5/0.7
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # the axial and the coronal picture
    assert "SHA-256 matches the catalog: True" in text
    assert "byte-identical to the file ingested: True" in text
    assert "<VerifyReport ok=True problems=0" in text


@pytest.mark.slow
def test_quickstart_runs_on_a_new_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PACSLAB_ARCHIVE", raising=False)
    text, outputs, seconds = _execute(tmp_path)
    files = int(re.search(r"(\d+) DICOM files", text).group(1))
    assert f"<IngestReport {files} new, 0 duplicate, 0 conflict, 0 rejected" in text
    assert (tmp_path / "quickstart-archive" / "pacslab.yaml").is_file()
    _common_checks(text, outputs)
    assert seconds < 100, f"the quickstart took {seconds:.0f} s"


@pytest.mark.slow
def test_quickstart_runs_on_the_make_run_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``make run`` does: the CLI builds the demo archive, PACSLAB_ARCHIVE points the notebook at it."""
    archive = tmp_path / "demo-archive"
    for args in (["demo", "demo-input"], ["init", str(archive)], ["ingest", str(archive), "demo-input"]):
        subprocess.run([sys.executable, "-m", "pacslab", *args], cwd=tmp_path, check=True, timeout=300,
                       capture_output=True)  # fmt: skip
    workdir = tmp_path / "notebooks"
    workdir.mkdir()
    monkeypatch.setenv("PACSLAB_ARCHIVE", str(archive))
    text, outputs, _ = _execute(workdir)
    files = int(re.search(r"(\d+) DICOM files", text).group(1))
    # the same deterministic demo files again: nothing new, every one a duplicate
    assert f"<IngestReport 0 new, {files} duplicate, 0 conflict, 0 rejected" in text
    assert f"<pacslab.Archive '{archive}'" in text
    assert not (workdir / "quickstart-archive").exists()
    _common_checks(text, outputs)
