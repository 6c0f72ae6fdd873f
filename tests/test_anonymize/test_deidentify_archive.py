"""deidentify / reidentify on an archive, and the ``pacslab deidentify`` command."""

from __future__ import annotations

import subprocess
import sys

import pydicom
import pytest
from anonymize_helpers import table_violations

import pacslab
from pacslab import examples
from pacslab.anonymize import deidentify, project_secret, reidentify
from pacslab.errors import AccessDeniedError, PacslabError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

CLI = [sys.executable, "-m", "pacslab.cli.main"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A small CT series and a DX image marked as showing burned-in text, as files."""
    base = tmp_path_factory.mktemp("deid")
    ct = examples.generate_ct_series(seed=31, n_slices=4, rows=32, columns=32)
    dx = examples.generate_dx_image(seed=32)
    dx.BurnedInAnnotation = "YES"
    examples.write_series(ct, base / "in" / "ct")
    examples.write_series([dx], base / "in" / "dx")
    return base, ct, dx


@pytest.fixture
def filled(source, tmp_path):
    base, ct, dx = source
    archive = pacslab.open_archive(tmp_path / "archive", create=True)
    archive.ingest(base / "in", progress=False, build_volumes=False)
    yield archive, ct, dx
    archive.close()


def read_all(paths):
    return [pydicom.dcmread(p) for p in paths]


def test_a_series_is_written_deidentified(filled, tmp_path):
    archive, ct, _ = filled
    report = deidentify(archive, ct[0].SeriesInstanceUID, tmp_path / "out")
    assert report.ok and len(report.written) == len(ct)
    written = read_all(report.written)
    by_number = {int(ds.InstanceNumber): ds for ds in written}
    for original in ct:
        result = by_number[int(original.InstanceNumber)]
        assert table_violations(original, result) == []
        assert result.PixelData == original.PixelData
    assert len({ds.SeriesInstanceUID for ds in written}) == 1
    assert all(p.endswith(f"{ds.SOPInstanceUID}.dcm") for p, ds in zip(report.written, written, strict=True))
    log = archive.audit_log()
    row = log[log["action"] == "export"].iloc[-1]
    assert row["service"] == "deidentify" and row["count"] == len(ct)


def test_same_project_same_output_other_project_differs(filled, tmp_path):
    archive, ct, _ = filled
    uid = ct[0].SOPInstanceUID
    first = read_all(deidentify(archive, uid, tmp_path / "a").written)[0]
    again = read_all(deidentify(archive, uid, tmp_path / "b").written)[0]
    other = read_all(deidentify(archive, uid, tmp_path / "c", project="trial-2").written)[0]
    assert (first.SOPInstanceUID, first.PatientID, first.PatientName) == (
        again.SOPInstanceUID,
        again.PatientID,
        again.PatientName,
    )
    assert first.SOPInstanceUID != other.SOPInstanceUID and first.PatientID != other.PatientID
    assert project_secret(archive, "default") == project_secret(archive, "default")
    assert project_secret(archive, "default") != project_secret(archive, "trial-2")


def test_reidentification_is_for_admins_only(filled, tmp_path):
    archive, ct, _ = filled
    result = read_all(deidentify(archive, ct[0].StudyInstanceUID, tmp_path / "out", project="p").written)[0]
    found = reidentify(archive, str(result.PatientID), role="admin")
    assert [(r["kind"], r["original"]) for r in found] == [("PatientID", ct[0].PatientID)]
    study = reidentify(archive, result.StudyInstanceUID, role="admin", project="p")
    assert study[0]["original"] == ct[0].StudyInstanceUID and study[0]["kind"] == "uid"
    assert reidentify(archive, "nobody", role="admin") == []
    for role in ("read", "write"):
        with pytest.raises(AccessDeniedError, match="admin"):
            reidentify(archive, str(result.PatientID), role=role)
    assert issubclass(AccessDeniedError, PermissionError) and issubclass(AccessDeniedError, PacslabError)
    log = archive.audit_log()
    assert set(log[log["action"] == "reidentify"]["outcome"]) == {"success", "denied"}


def test_burned_in_instances_are_held_back_unless_allowed(filled, tmp_path):
    archive, _, dx = filled
    report = deidentify(archive, dx.SOPInstanceUID, tmp_path / "held")
    assert not report.ok and report.written == []
    assert report.held_back[0][0] == dx.SOPInstanceUID and "BurnedInAnnotation is YES" in report.held_back[0][1]
    allowed = deidentify(archive, dx.SOPInstanceUID, tmp_path / "allowed", allow_burned_in=True)
    assert allowed.ok and len(allowed.written) == 1


def test_options_reach_the_files(filled, tmp_path):
    archive, ct, _ = filled
    report = deidentify(
        archive, ct[0].SOPInstanceUID, tmp_path / "out", options=["retain-longitudinal-modified-dates", "retain-uids"]
    )
    result = read_all(report.written)[0]
    assert result.SOPInstanceUID == ct[0].SOPInstanceUID
    assert result.StudyDate not in ("", ct[0].StudyDate)
    assert {i.CodeValue for i in result.DeidentificationMethodCodeSequence} == {"113100", "113107", "113110"}


def run(*args):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_cli_writes_files_and_reports_held_back(filled, tmp_path):
    archive, ct, dx = filled
    root = archive.root
    secret = project_secret(archive, "cli")
    archive.close()
    ok = run("deidentify", root, ct[0].SeriesInstanceUID, "-o", str(tmp_path / "o1"), "--project", "cli",
             "--option", "retain-device-identity", "--option", "clean-descriptors")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert f"wrote {len(ct)} de-identified files" in ok.stdout
    assert len(list((tmp_path / "o1").rglob("*.dcm"))) == len(ct)
    held = run("deidentify", root, dx.StudyInstanceUID, "-o", str(tmp_path / "o2"), "--project", "cli")
    assert held.returncode == 1 and "held back" in held.stdout
    allowed = run("deidentify", root, dx.StudyInstanceUID, "-o", str(tmp_path / "o3"), "--allow-burned-in")
    assert allowed.returncode == 0, allowed.stderr
    bad = run("deidentify", root, "1.2.3.4.5", "-o", str(tmp_path / "o4"))
    assert bad.returncode == 2
    wrong = run("deidentify", root, dx.StudyInstanceUID, "-o", str(tmp_path / "o5"), "--option", "retain-all")
    assert wrong.returncode == 2 and "retain-uids" in wrong.stderr
    dates = ["--option", "retain-longitudinal-full-dates", "--option", "retain-longitudinal-modified-dates"]
    both = run("deidentify", root, dx.StudyInstanceUID, "-o", str(tmp_path / "o6"), *dates)
    assert both.returncode == 2 and "Choose one of" in both.stderr
    for result in (ok, held, allowed, bad, both):
        assert secret not in result.stdout + result.stderr


def test_an_archive_on_memory_storage(memory_archive, source, tmp_path):
    base, ct, _ = source
    memory_archive.ingest(base / "in" / "ct", progress=False, build_volumes=False)
    report = deidentify(memory_archive, ct[0].StudyInstanceUID, tmp_path / "out", project="mem")
    assert report.ok and len(report.written) == len(ct)
    uid = pydicom.dcmread(report.written[0]).StudyInstanceUID
    assert reidentify(memory_archive, uid, role="admin")[0]["original"] == ct[0].StudyInstanceUID
