"""Helpers of the DIMSE tests: generated CT series, dcmtk runs, an Orthanc launcher."""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

NODELAY_ENV = {**os.environ, "TCP_NODELAY": "1"}
PEERS_CONFIG = Path(__file__).resolve().parents[2].parent / "shared" / "peers" / "orthanc.json"


def requires(*commands: str) -> pytest.MarkDecorator:
    """Skip unless every command is installed."""
    missing = [c for c in commands if shutil.which(c) is None]
    reason = f"{', '.join(missing)} not installed (apt-get install dcmtk orthanc)"
    return pytest.mark.skipif(bool(missing), reason=reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll *predicate* until it is truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value is not None and value is not False:
            return value
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


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


class Orthanc:
    """Debian's Orthanc on free ports (it binds every interface: a random high port, stopped at teardown)."""

    def __init__(self, directory: Path, modalities: dict[str, list], *, dicom_port: int | None = None) -> None:
        self.dir = directory
        self.http_port, self.dicom_port = free_port(), dicom_port or free_port()
        config = json.loads(PEERS_CONFIG.read_text())
        config.update(
            StorageDirectory=str(directory / "db"), IndexDirectory=str(directory / "db"), HttpPort=self.http_port,
            DicomPort=self.dicom_port, DicomAet="ORTHANC", DicomModalities=modalities, RemoteAccessAllowed=False,
        )  # fmt: skip
        config.setdefault("DicomWeb", {})["Host"] = f"127.0.0.1:{self.http_port}"
        (directory / "orthanc.json").write_text(json.dumps(config))
        self.log = open(directory / "orthanc.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(["Orthanc", str(directory / "orthanc.json")], env=NODELAY_ENV,
                                     stdout=self.log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_for(self._alive, timeout=60)
        except TimeoutError:
            self.stop()
            raise

    def _alive(self) -> bool:
        try:
            self.rest("GET", "/system")
            return True
        except OSError:
            return False

    def rest(self, method: str, path: str, body: object = None) -> object:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def instance_file(self, sop_instance_uid: str) -> bytes:
        ids = self.rest("POST", "/tools/lookup", sop_instance_uid.encode())
        (match,) = [i for i in ids if i["Type"] == "Instance"]
        return self.rest("GET", f"/instances/{match['ID']}/file")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


def read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data), force=True)
