"""The pacslab command line, run as a user runs it (a subprocess), on generated data."""

from __future__ import annotations

import json
import subprocess
import sys

import pydicom
import pytest

from pacslab import examples

CLI = [sys.executable, "-m", "pacslab.cli.main"]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"pacslab {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    datasets = examples.generate_ct_series(seed=21, n_slices=6, rows=32, columns=32)
    examples.write_series(datasets, base / "in")
    root = base / "archive"
    run("init", str(root))
    run("ingest", str(root), str(base / "in"))
    return base, root, datasets


def test_init_refuses_an_existing_archive(filled):
    _, root, _ = filled
    result = run("init", str(root), check=False)
    assert result.returncode == 2 and "already exists" in result.stderr


def test_open_missing_archive_says_what_to_do(tmp_path):
    result = run("info", str(tmp_path / "nothing"), check=False)
    assert result.returncode == 2 and "pacslab init" in result.stderr


def test_ls_filters_and_json(filled):
    _, root, datasets = filled
    rows = json.loads(run("ls", str(root), "instances", "--Modality", "CT", "--json").stdout)
    assert {r["SOPInstanceUID"] for r in rows} == {d.SOPInstanceUID for d in datasets}
    none = json.loads(run("ls", str(root), "studies", "--StudyDate=19000101-19000102", "--json").stdout)
    assert none == []
    text = run("ls", str(root), "series", "--fields", "SliceThickness").stdout
    assert "SliceThickness" in text and datasets[0].SeriesInstanceUID in text
    bad = run("ls", str(root), "series", "--Modalty", "CT", check=False)
    assert bad.returncode == 2 and "Modalty" in bad.stderr


def test_export_series_byte_identical(filled, tmp_path):
    base, root, datasets = filled
    out = tmp_path / "out"
    run("export", str(root), datasets[0].SeriesInstanceUID, "-o", str(out))
    files = sorted(out.rglob("*.dcm"))
    assert len(files) == len(datasets)
    originals = {p.name: p.read_bytes() for p in (base / "in").rglob("*.dcm")}
    for f in files:
        assert f.read_bytes() == originals[f.name]
        assert pydicom.dcmread(f).SeriesInstanceUID == datasets[0].SeriesInstanceUID


def test_verify_detects_damage(filled, tmp_path):
    import shutil

    _, root, _ = filled
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    assert run("verify", str(copy)).returncode == 0
    blob = next(copy.glob("volumes/*/*/heads.pxr"))  # the CT's originals: heads here, pixels in the volume
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    result = run("verify", str(copy), "--json", check=False)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert not report["ok"] and report["problems"]


def test_info_counts(filled):
    _, root, datasets = filled
    info = json.loads(run("info", str(root), "--json").stdout)[0]
    assert info["instances"] == len(datasets) and info["volumes"] == 1
