"""``pacslab audit``: the audit table filtered, shown and exported from the shell."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
from pydicom.data import get_testdata_file

import pacslab


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pacslab.cli.main", "audit", *args], capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def test_audit_filters_and_exports(tmp_path):
    root = tmp_path / "archive"
    archive = pacslab.open_archive(root, create=True)
    archive.ingest(get_testdata_file("CT_small.dcm"), progress=False)
    series = archive.series().SeriesInstanceUID.iloc[0]
    study = archive.studies().StudyInstanceUID.iloc[0]
    archive.export(series, tmp_path / "out")
    archive.close()

    shown = _run(str(root))
    assert shown.returncode == 0, shown.stderr
    assert "ingest" in shown.stdout and "export" in shown.stdout

    exported = _run(str(root), "--action", "export", "--format", "csv", "-o", str(tmp_path / "audit.csv"))
    assert exported.returncode == 0, exported.stderr
    log = pd.read_csv(tmp_path / "audit.csv")
    assert list(log.action) == ["export"] and series in log.uids.iloc[0]

    as_json = json.loads(_run(str(root), "--uid", series, "--format", "json").stdout)
    assert [e["action"] for e in as_json] == ["export"]
    assert json.loads(_run(str(root), "--uid", study, "--format", "json").stdout) == []  # the export named the series
    assert json.loads(_run(str(root), "--since", "2999-01-01", "--format", "json").stdout) == []
    newest = json.loads(_run(str(root), "--limit", "1", "--format", "json").stdout)
    assert [e["action"] for e in newest] == ["export"]

    bad = _run(str(root), "--since", "last tuesday")
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr and "Traceback" not in bad.stderr
