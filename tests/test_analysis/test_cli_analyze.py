"""``pacslab analyze``, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pacslab import analysis

CLI = [sys.executable, "-m", "pacslab.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_list_names_the_builtin_analyses():
    out = run("analyze", "--list")
    assert out.returncode == 0, out.stderr
    for name in ("intensity-statistics", "body-mask", "ct-segmentation", "roi-features"):
        assert name in out.stdout


def test_analyze_filters_parameters_and_results_in_the_archive(phantom_archive):
    archive, truths, chests = phantom_archive
    uid = truths["anisotropic"]["series_instance_uid"]
    out = run(
        "analyze",
        str(Path(archive.root)),
        "roi-features",
        "--SeriesDescription",
        "PHANTOM ANISO*",
        "-p",
        "lower=150",
        "--json",
        "--no-progress",
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    rows = [r for r in report["measurements"] if r["feature"] == "volume_ml"]
    assert [r["SeriesInstanceUID"] for r in rows] == [uid]
    stored = analysis.measurements(archive, run_id=report["run_id"], feature="volume_ml")
    assert stored["value"].tolist() == pytest.approx([rows[0]["value"]])
    text = run("analyze", str(Path(archive.root)), "body-mask", "--SeriesInstanceUID", chests[0], "--no-progress")
    assert text.returncode == 0, text.stderr
    assert "volume_ml" in text.stdout and "SEG " in text.stdout


def test_analyze_errors_say_what_to_do(phantom_archive):
    archive, _, _ = phantom_archive
    bad = run("analyze", str(Path(archive.root)), "no-such-analysis")
    assert bad.returncode == 2 and "ct-segmentation" in bad.stderr
    bad = run("analyze", str(Path(archive.root)), "roi-features", "-p", "lowr=1")
    assert bad.returncode == 2 and "lower" in bad.stderr
