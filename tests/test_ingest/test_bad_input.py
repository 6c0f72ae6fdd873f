"""Bad input is reported and quarantined; the good files still go in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

GOOD = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm"]


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    (folder / "sub" / "deeper").mkdir(parents=True)
    for i, name in enumerate(GOOD):
        shutil.copy(get_testdata_file(name), folder / ("sub" if i % 2 else "") / f"good{i}")
    ct = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    (folder / "truncated.dcm").write_bytes(ct[: len(ct) // 2])
    (folder / "zero.dcm").write_bytes(b"")
    (folder / "sub" / "notes.txt").write_text("this is not DICOM\n" * 20)
    (folder / "sub" / "deeper" / "random.bin").write_bytes(os.urandom(5000))
    (folder / "header_only").write_bytes(ct[:200])
    return folder


BAD = {"truncated.dcm", "zero.dcm", "notes.txt", "random.bin", "header_only"}


def test_good_files_in_bad_files_quarantined(archive, mixed_folder):
    report = archive.ingest(mixed_folder, progress=False)
    assert report.new == len(GOOD)
    assert {Path(s).name for s, _ in report.rejected} == BAD
    reasons = dict((Path(s).name, r) for s, r in report.rejected)
    assert "empty" in reasons["zero.dcm"]
    assert "truncated" in reasons["truncated.dcm"]
    assert "not recognised as DICOM" in reasons["notes.txt"]
    assert len(report.quarantined) == len(BAD)
    quarantined = {k.split("-", 1)[1] for k in report.quarantined}
    assert quarantined == BAD
    for key in report.quarantined:  # the quarantined copy is the file exactly
        name = key.split("-", 1)[1]
        original = next(mixed_folder.rglob(name)).read_bytes()
        assert archive.fs.cat_file(f"{archive.root}/{key}") == original
    assert not report.ok
    assert archive.verify().ok


def test_cli_exit_status_and_summary(tmp_path, mixed_folder):
    root = tmp_path / "cli-archive"
    pacslab_cli = [sys.executable, "-m", "pacslab.cli.main"]
    subprocess.run([*pacslab_cli, "init", str(root)], check=True, capture_output=True)
    result = subprocess.run([*pacslab_cli, "ingest", str(root), str(mixed_folder)], capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{len(GOOD)} new" in result.stdout
    assert result.stdout.count("rejected /") == len(BAD)
    again = subprocess.run([*pacslab_cli, "ingest", str(root), *(str(p) for p in mixed_folder.glob("good*"))],
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 new" in again.stdout


def test_missing_path_is_reported(archive, tmp_path):
    report = archive.ingest(tmp_path / "does-not-exist", progress=False)
    assert report.rejected and "no such file" in report.rejected[0][1]


def test_many_files_through_worker_processes(archive, tmp_path):
    """Enough files to use the process pool: the bad ones among them still do not stop the batch."""
    folder = tmp_path / "many"
    folder.mkdir()
    from pacslab.ingest.pipeline import INLINE_LIMIT

    names = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm", "JPEG2000.dcm", "image_dfl.dcm",
             "SC_rgb_rle.dcm", "examples_palette.dcm", "ExplVR_BigEnd.dcm", "waveform_ecg.dcm"]  # fmt: skip
    for i in range(INLINE_LIMIT * 3):
        if i % 7 == 3:
            (folder / f"junk{i}").write_bytes(os.urandom(300 + i))
        else:
            shutil.copy(get_testdata_file(names[i % len(names)]), folder / f"f{i}")
    report = archive.ingest(folder, progress=False)
    junk = sum(1 for i in range(INLINE_LIMIT * 3) if i % 7 == 3)
    assert report.n_rejected == junk
    assert report.new == len(names)
    assert report.new + report.duplicate + report.n_rejected == INLINE_LIMIT * 3
    assert archive.verify().ok
