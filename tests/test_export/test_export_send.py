"""Sending: C-STORE to dcmtk's storescp (byte for byte, or de-identified) and STOW-RS to a second pacslab server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from export_helpers import Filled, export_rows, read

import pacslab
from pacslab.dicomweb import DicomwebServer, create_token
from pacslab.dimse.scu import read_part10_dataset
from pacslab.errors import RemoteError
from pacslab.export import ExportError, ExportReport, send
from pacslab.export._dicom import Item
from pacslab.export._remote import send_stow
from pacslab.testing.peers import StoreSCP, free_port, wait_for


@pytest.fixture
def storescp() -> Iterator[StoreSCP]:
    if shutil.which("storescp") is None:
        pytest.skip("dcmtk's storescp is not installed (apt-get install dcmtk)")
    scp = StoreSCP(aet="EXPORTSCP")
    try:
        yield scp
    finally:
        scp.stop()


@pytest.fixture
def stow_target(tmp_path: Path) -> Iterator[tuple[pacslab.Archive, DicomwebServer, str]]:
    archive = pacslab.open_archive(tmp_path / "target", create=True)
    server = DicomwebServer(archive, port=0, stable_delay=None).start()
    try:
        yield archive, server, create_token(archive, role="write", name="exporter")
    finally:
        server.stop()
        archive.close()


def _received(scp: StoreSCP, n: int) -> list[Path]:
    return wait_for(lambda: (files := [p for p in scp.dir.iterdir() if p.is_file()]) and len(files) >= n and files)


@pytest.mark.peers
def test_send_to_storescp_arrives_byte_identical(filled: Filled, storescp: StoreSCP) -> None:
    remote = f"EXPORTSCP@127.0.0.1:{storescp.port}"
    report = filled.archive.send(str(filled.ct[0].SeriesInstanceUID), remote)
    assert report.ok and report.format == "dimse" and len(report) == len(filled.ct)
    files = _received(storescp, len(filled.ct))
    got = {str(read(p.read_bytes()).SOPInstanceUID): read_part10_dataset(p.read_bytes()) for p in files}
    sent = {str(d.SOPInstanceUID): read_part10_dataset(filled.files[str(d.SOPInstanceUID)]) for d in filled.ct}
    assert got == sent
    row = export_rows(filled.archive, remote).iloc[0]
    assert (row["service"], row["count"], row["outcome"], row["address"]) == ("dimse", len(filled.ct), "success",
                                                                              remote)  # fmt: skip


@pytest.mark.peers
def test_deidentified_send_to_storescp(filled: Filled, storescp: StoreSCP) -> None:
    remote = f"EXPORTSCP@127.0.0.1:{storescp.port}"
    report = filled.archive.send(str(filled.mr[0].SeriesInstanceUID), remote, deidentify="send-trial")
    assert report.ok and all(uid.startswith("2.25.") for uid in report)
    files = _received(storescp, len(filled.mr))
    identifiers = filled.identifiers(filled.mr)
    for path in files:
        data = path.read_bytes()
        assert not any(text.encode() in data for text in identifiers)
    assert {str(read(p.read_bytes()).SOPInstanceUID) for p in files} == set(report)


def test_unreachable_ae_is_a_remote_error_and_audited(filled: Filled) -> None:
    remote = f"NOBODY@127.0.0.1:{free_port()}"
    with pytest.raises(RemoteError):
        filled.archive.send(str(filled.ct[0].SOPInstanceUID), remote)
    assert export_rows(filled.archive, remote)["outcome"].tolist() == ["failure"]


def test_stow_to_a_second_pacslab_lands_the_instances(filled: Filled, stow_target) -> None:
    target, server, token = stow_target
    study = str(filled.ct[0].StudyInstanceUID)
    report = filled.archive.send(study, server.url, token=token)
    expected = {str(d.SOPInstanceUID) for d in filled.ct + filled.oblique}
    assert report.ok and report.format == "stow" and set(report) == expected
    assert set(target.instances(StudyInstanceUID=study)["SOPInstanceUID"]) == expected
    for sop in expected:
        assert target.read_instance(sop) == filled.files[sop]
    row = export_rows(filled.archive, server.url).iloc[0]
    assert (row["service"], row["count"], row["outcome"]) == ("stow", len(expected), "success")


def test_deidentified_stow_in_small_batches(filled: Filled, stow_target) -> None:
    target, server, token = stow_target
    series = str(filled.mr[0].SeriesInstanceUID)
    report = send(filled.archive, series, server.url, token=token, deidentify=True)
    assert report.ok and len(report) == len(filled.mr)
    landed = target.instances()
    assert set(landed["SOPInstanceUID"]) == set(report)
    assert not set(landed["PatientID"]) & {str(d.PatientID) for d in filled.mr}
    # a batch limit smaller than one instance: one request per instance, same outcome (duplicates are fine)
    small = ExportReport("stow", server.url)
    items = [Item(f"{u}.dcm", u, target.read_instance(u)) for u in report]
    send_stow(items, server.url, small, token=token, batch_bytes=1)
    assert sorted(small.written) == sorted(report)


def test_stow_without_token_is_refused_and_audited(filled: Filled, stow_target) -> None:
    target, server, _ = stow_target
    with pytest.raises(RemoteError, match="401"):
        filled.archive.send(str(filled.ct[0].SOPInstanceUID), server.url)
    assert target.instances().empty
    assert export_rows(filled.archive, server.url)["outcome"].tolist() == ["failure"]


@pytest.mark.parametrize(
    ("remote", "kwargs", "message"),
    [
        ("https://user:pw@pacs.example/dicom-web", {}, "credentials"),
        ("http:///dicom-web", {}, "not a DICOMweb URL"),
        ("PACS@127.0.0.1:104", {"token": "t"}, "bearer token"),
    ],
)
def test_bad_remotes_are_refused(filled: Filled, remote: str, kwargs, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        filled.archive.send(str(filled.ct[0].SOPInstanceUID), remote, **kwargs)
