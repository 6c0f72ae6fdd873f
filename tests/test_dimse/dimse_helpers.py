"""Helpers of the DIMSE tests: generated CT series, dcmtk runs, an Orthanc launcher."""

from __future__ import annotations

import copy
import io
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from pacslab.testing.peers import NODELAY_ENV, Orthanc, free_port, wait_for, wait_port  # noqa: F401 - used by the tests


def requires(*commands: str) -> pytest.MarkDecorator:
    """Skip unless every command is installed."""
    missing = [c for c in commands if shutil.which(c) is None]
    reason = f"{', '.join(missing)} not installed (apt-get install dcmtk orthanc)"
    return pytest.mark.skipif(bool(missing), reason=reason)


def audit_entries(archive, *, at_least: int = 1, timeout: float = 10.0, **match):
    """Audit rows with the given column values, once there are *at_least* of them (entries are written
    when a connection closes, a moment after the client returns)."""

    def rows():
        log = archive.audit_log()
        for column, value in match.items():
            if log.empty:
                break
            log = log[log[column] == value]
        return log if len(log) >= at_least else None

    return wait_for(rows, timeout=timeout)


def dataset_bytes(data: bytes) -> bytes:
    """The encoded dataset of a DICOM file, after its file meta (what DIMSE carries)."""
    from pacslab.dimse.scu import read_part10_dataset

    return read_part10_dataset(data)


def write_ct_series(
    directory: Path, n: int, *, series: int = 1, study_seed: str = "study", patient: str = "DOE^JANE"
) -> list[Path]:
    """Clones of pydicom's CT_small.dcm with new UIDs and stacked positions."""
    directory.mkdir(parents=True, exist_ok=True)
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    # CT_small ends with (FFFC,FFFC) Data Set Trailing Padding, a media-only element that dcmtk
    # (so Orthanc) leaves out when it sends a dataset: drop it so every peer sends the same bytes
    del base[0xFFFCFFFC]
    study = generate_uid(entropy_srcs=[str(directory), study_seed])
    paths = []
    per = max(1, n // series)
    for s in range(series):
        series_uid = generate_uid(entropy_srcs=[str(directory), study_seed, str(s)])
        for i in range(per):
            ds = copy.deepcopy(base)
            ds.PatientName, ds.PatientID = patient, patient.split("^")[0]
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_uid
            ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(directory), study_seed, str(s), str(i)])
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.SeriesNumber, ds.InstanceNumber = s + 1, i + 1
            ds.ImagePositionPatient = [-158.1, -179.0, -75.7 + 2.5 * i]
            path = directory / f"s{s}_{i:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def run_dcmtk(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a dcmtk tool with TCP_NODELAY=1, bounded."""
    return subprocess.run(list(args), env=NODELAY_ENV, capture_output=True, text=True, timeout=timeout, check=check)


def read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data), force=True)
