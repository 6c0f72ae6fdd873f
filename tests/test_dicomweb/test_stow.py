"""STOW-RS and DELETE: storing through the single ingest path, bad input, partial failures."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
import requests
from dicomweb_helpers import Served


def _multipart(
    parts: list[bytes], *, part_type: str = "application/dicom", boundary: str = "b0undary"
) -> tuple[bytes, str]:
    body = (
        b"".join(
            b"--" + boundary.encode() + b"\r\nContent-Type: " + part_type.encode() + b"\r\n\r\n" + p + b"\r\n"
            for p in parts
        )
        + b"--"
        + boundary.encode()
        + b"--\r\n"
    )
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


def _post(
    served: Served, body: bytes, content_type: str, *, role: str = "write", path: str = "/studies"
) -> requests.Response:
    return requests.post(served.url + path, data=body, headers={**served.headers(role), "Content-Type": content_type})


def _generated(data_files: list[Path]) -> list[Path]:
    return [p for p in data_files if "gen" in p.parent.name]


def test_store_instances_with_dicomweb_client(empty: Served, data_files: list[Path]) -> None:
    # Given an empty archive and the 8 files of one series
    files = [p for p in data_files if p.parent.name == "gen0"]
    datasets = [pydicom.dcmread(p) for p in files]
    # When a writer stores them with dicomweb-client
    response = empty.client("write").store_instances(datasets)
    # Then every instance is referenced and searchable, its volume pending
    assert len(response.ReferencedSOPSequence) == 8
    assert "FailedSOPSequence" not in response
    assert empty.archive.catalog.count("instances", {}) == 8
    assert empty.client().search_for_series()[0]["00201209"]["Value"] == [8]
    assert empty.archive.series()["volume_state"].tolist() == ["pending"]
    # and storing them again is a success too (duplicates), nothing added
    again = empty.client("write").store_instances(datasets)
    assert len(again.ReferencedSOPSequence) == 8
    assert empty.archive.catalog.count("instances", {}) == 8
    log = empty.archive.audit_log()
    assert (log[log["action"] == "store"]["count"] == 8).all()
    assert log[log["action"] == "store"]["actor"].iloc[0] == "test-write (write)"


def test_stored_bytes_are_kept_as_sent(empty: Served, data_files: list[Path]) -> None:
    path = next(p for p in data_files if p.name == "CT_small.dcm")
    body, ctype = _multipart([path.read_bytes()])
    r = _post(empty, body, ctype)
    assert r.status_code == 200, r.text
    sop = r.json()["00081199"]["Value"][0]["00081155"]["Value"][0]
    assert empty.archive.read_instance(sop) == path.read_bytes()


def test_partial_failure_is_202_with_reasons(empty: Served, data_files: list[Path]) -> None:
    good = _generated(data_files)[0].read_bytes()
    body, ctype = _multipart([good, b"this is not DICOM at all" * 10])
    r = _post(empty, body, ctype)
    assert r.status_code == 202
    result = r.json()
    assert len(result["00081199"]["Value"]) == 1
    (failed,) = result["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xC000]
    assert r.headers["Warning"].startswith("299 ")
    assert empty.archive.catalog.count("instances", {}) == 1


def test_many_parts_come_back_in_order_prepared_in_worker_processes(empty: Served, data_files: list[Path]) -> None:
    """Parts are prepared in worker processes, several at a time; the response keeps the request's order."""
    import concurrent.futures as cf

    good = [p.read_bytes() for p in _generated(data_files)[:12]]
    changed = pydicom.dcmread(io.BytesIO(good[3]))
    changed.PatientName = "SOMEONE^ELSE"  # same SOPInstanceUID, other content: a conflict within the request
    buffer = io.BytesIO()
    changed.save_as(buffer, enforce_file_format=True)
    parts = good[:2] + [b"junk" * 40] + good[2:9] + [b"\x00" * 300] + good[9:] + [buffer.getvalue()]
    body, ctype = _multipart(parts)
    r = _post(empty, body, ctype)
    assert r.status_code == 202, r.text
    result = r.json()
    sent = [str(pydicom.dcmread(io.BytesIO(d)).SOPInstanceUID) for d in good]
    assert [item["00081155"]["Value"][0] for item in result["00081199"]["Value"]] == sent
    assert [item["00081197"]["Value"][0] for item in result["00081198"]["Value"]] == [0xC000, 0xC000, 0x0111]
    warning = r.headers["Warning"]
    assert warning.index("part 3:") < warning.index("part 11:") < warning.index("part 15:")
    assert empty.archive.catalog.count("instances", {}) == 12
    assert str(empty.archive.dataset(sent[3]).PatientName) != "SOMEONE^ELSE"
    executor = empty.server.service.ingest_executor
    assert isinstance(executor, cf.ProcessPoolExecutor) and executor._processes  # noqa: SLF001


def test_conflict_is_409(empty: Served, data_files: list[Path]) -> None:
    path = _generated(data_files)[0]
    body, ctype = _multipart([path.read_bytes()])
    assert _post(empty, body, ctype).status_code == 200
    ds = pydicom.dcmread(path)
    ds.PatientName = "SOMEONE^ELSE"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    body, ctype = _multipart([buffer.getvalue()])
    r = _post(empty, body, ctype)
    assert r.status_code == 409
    assert r.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0x0111]
    assert str(empty.archive.dataset(str(ds.SOPInstanceUID)).PatientName) != "SOMEONE^ELSE"


def test_store_into_a_study_checks_the_study(empty: Served, data_files: list[Path]) -> None:
    path = _generated(data_files)[0]
    body, ctype = _multipart([path.read_bytes()])
    r = _post(empty, body, ctype, path="/studies/1.2.3.4")
    assert r.status_code == 409
    assert r.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xA900]
    study = str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)
    assert _post(empty, body, ctype, path=f"/studies/{study}").status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (
            b"--x\r\nContent-Type: application/dicom\r\n\r\nabc",
            'multipart/related; type="application/dicom"; boundary=x',
            400,
        ),
        (b"no boundary here", 'multipart/related; type="application/dicom"; boundary=x', 400),
        (b"abc", 'multipart/related; type="application/dicom"', 400),
        (b"{}", "application/json", 415),
        (b"--x\r\n\r\n{}\r\n--x--\r\n", 'multipart/related; type="application/dicom+json"; boundary=x', 415),
        (_multipart([b"DICM but not really" * 20])[0], _multipart([b""])[1], 400),
    ],
    ids=["cut-short", "missing-boundary", "no-boundary-param", "not-multipart", "metadata-parts", "not-dicom"],
)
def test_bad_bodies_store_nothing(empty: Served, body: bytes, content_type: str, status: int) -> None:
    r = _post(empty, body, content_type)
    assert r.status_code == status, r.text
    assert r.json()["message"] if status != 400 or "00081198" not in r.json() else True
    assert empty.archive.catalog.count("instances", {}) == 0


def test_oversized_body_is_413(empty: Served, data_files: list[Path]) -> None:
    body, ctype = _multipart([p.read_bytes() for p in _generated(data_files)] * 4)
    assert len(body) > 256 * 1024
    r = _post(empty, body, ctype)
    assert r.status_code == 413
    assert "256" in r.json()["message"] or "262144" in r.json()["message"]
    assert empty.archive.catalog.count("instances", {}) == 0
    # chunked (no Content-Length) too
    r = requests.post(empty.url + "/studies", data=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                      headers={**empty.headers("write"), "Content-Type": ctype})  # fmt: skip
    assert r.status_code == 413
    assert empty.archive.catalog.count("instances", {}) == 0


def test_delete_needs_admin(empty: Served, data_files: list[Path]) -> None:
    files = [p for p in data_files if p.parent.name in ("gen0", "gen1")]
    empty.client("write").store_instances([pydicom.dcmread(p) for p in files])
    study = empty.archive.studies()["StudyInstanceUID"].iloc[0]
    series = empty.archive.series()["SeriesInstanceUID"].tolist()
    assert requests.delete(f"{empty.url}/studies/{study}", headers=empty.headers("write")).status_code == 403
    r = requests.delete(f"{empty.url}/studies/{study}/series/{series[0]}", headers=empty.headers("admin"))
    assert r.status_code == 204
    assert empty.archive.catalog.count("series", {}) == 1
    empty.client("admin").delete_study(study)
    assert empty.archive.catalog.count("studies", {}) == 0
    assert requests.delete(f"{empty.url}/studies/{study}", headers=empty.headers("admin")).status_code == 404


def test_chunked_upload(empty: Served, data_files: list[Path]) -> None:
    # Given a client that sends bodies in 4 kB chunks (Transfer-Encoding: chunked, no Content-Length)
    client = empty.client("write")
    client.set_chunk_size(4096)
    datasets = [pydicom.dcmread(p) for p in data_files if p.parent.name == "gen2"]
    # When it stores a series, Then every instance arrives
    assert len(client.store_instances(datasets).ReferencedSOPSequence) == 6
    assert empty.archive.catalog.count("instances", {}) == 6


def test_volumes_of_stored_series_are_built_once_stable(tmp_path: Path, data_files: list[Path]) -> None:
    import time

    from dicomweb_helpers import Served

    from pacslab import open_archive
    from pacslab.dicomweb import DicomwebServer

    archive = open_archive(tmp_path / "stable", create=True)
    server = DicomwebServer(archive, port=0, stable_delay=0.3).start()
    try:
        served = Served(archive, server)
        served.client("write").store_instances([pydicom.dcmread(p) for p in data_files if p.parent.name == "gen0"])
        deadline = time.monotonic() + 30
        while archive.series()["volume_state"].iloc[0] != "ready" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert archive.series()["volume_state"].iloc[0] == "ready"
        assert archive.open_volume(archive.series()["SeriesInstanceUID"].iloc[0]).shape == (8, 64, 64)
    finally:
        server.stop()
        archive.close()


def test_a_full_disk_is_507_saying_so_and_nothing_is_stored(
    empty: Served, data_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import pickle

    import pacslab.ingest.pipeline
    from pacslab.dicomweb import status_for

    def full(*args: object, **kwargs: object) -> None:
        # as a worker process raises it: pickled and raised again here
        raise pickle.loads(pickle.dumps(OSError(errno.ENOSPC, "No space left on device", "/archive/originals/x")))

    monkeypatch.setattr(pacslab.ingest.pipeline, "ingest_many", full)
    body, ctype = _multipart([p.read_bytes() for p in _generated(data_files)[:2]])
    r = _post(empty, body, ctype)
    assert r.status_code == 507
    message = r.json()["message"]
    assert "storage is full (No space left on device)" in message and "send it again" in message
    assert "storage is full" in r.headers["Warning"]
    assert empty.archive.catalog.count("instances", {}) == 0
    assert status_for(OSError(errno.EDQUOT, "Disk quota exceeded")) == 507
    assert status_for(OSError(errno.EIO, "Input/output error")) == 500  # other failures stay internal errors


# -- bodies spooled to files as they arrive ------------------------------------------------------
def _spool_folder(served: Path | Served) -> Path:
    return Path(served.archive.root if isinstance(served, Served) else served) / "stow"


def _spooled_requests(served: Served) -> list[Path]:
    return sorted(_spool_folder(served).iterdir()) if _spool_folder(served).exists() else []


def test_spooled_instances_are_moved_into_place_not_written_again(tmp_path: Path, data_files: list[Path]) -> None:
    import os

    from pacslab import open_archive
    from pacslab.dicomweb import DicomwebService
    from pacslab.dicomweb.auth import Principal, RoleValues
    from pacslab.dicomweb.service import Request

    # Given a service over a local archive, and a body of uncompressed CT images and one non-DICOM part
    archive = open_archive(tmp_path / "a", create=True)
    service = DicomwebService(archive)
    files = _generated(data_files)[:3]
    body, ctype = _multipart([p.read_bytes() for p in files] + [b"not DICOM" * 50])
    spool = service.spool(ctype)
    assert spool is not None and Path(spool.directory).parent == _spool_folder(Path(archive.root))
    for start in range(0, len(body), 5000):
        spool.feed(body[start : start + 5000])
    parts = spool.close()
    inodes = [os.stat(p.path).st_ino for p in parts]
    # When the service stores the spooled parts
    request = Request(base_url="http://x/dicom-web", principal=Principal("t", RoleValues.WRITE), parts=parts,
                      headers={"content-type": ctype})  # fmt: skip
    response = service.store(request)
    # Then each image is the very file it was received into, moved into the archive
    assert response.status == 202
    rows = archive.catalog.instance_keys()
    assert len(rows) == 3
    stored = {os.stat(archive.originals.path(r["stored_key"])).st_ino for r in rows}
    assert stored == set(inodes[:3])
    assert [archive.read_instance(r["SOPInstanceUID"]) for r in rows] != []
    assert sorted(archive.read_instance(r["SOPInstanceUID"]) for r in rows) == sorted(p.read_bytes() for p in files)
    # and the rejected part is left in the spool, for the server to remove with the request's folder
    assert [p.name for p in Path(spool.directory).iterdir()] == ["4"]
    spool.discard()
    archive.close()


def test_stow_over_http_leaves_nothing_in_the_spool(empty: Served, data_files: list[Path]) -> None:
    # Given a request with good images, one twice, and a part that is not DICOM
    files = _generated(data_files)[:3]
    body, ctype = _multipart([p.read_bytes() for p in [*files, files[0]]] + [b"not DICOM" * 50])
    r = _post(empty, body, ctype)
    # Then what could be stored is, and the request's spool folder is gone with its response
    assert r.status_code == 202, r.text
    assert empty.archive.catalog.count("instances", {}) == 3
    assert _spool_folder(empty).is_dir()
    assert _spooled_requests(empty) == []
    assert empty.archive.verify().ok


def test_a_client_gone_mid_body_leaves_nothing_in_the_spool(empty: Served, data_files: list[Path]) -> None:
    import socket
    import time
    import urllib.parse

    # Given a client that sends half of a STOW-RS body and hangs up
    body, ctype = _multipart([p.read_bytes() for p in _generated(data_files)[:2]])
    url = urllib.parse.urlsplit(empty.url)
    token = empty.headers("write")["Authorization"]
    head = (f"POST {url.path}/studies HTTP/1.1\r\nHost: {url.hostname}\r\nContent-Type: {ctype}\r\n"
            f"Authorization: {token}\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
        deadline = time.monotonic() + 30
        while not _spooled_requests(empty) and time.monotonic() < deadline:  # the server is spooling it
            time.sleep(0.02)
        assert _spooled_requests(empty)
    # Then its spool folder goes, and nothing was stored
    deadline = time.monotonic() + 30
    while _spooled_requests(empty) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _spooled_requests(empty) == []
    assert empty.archive.catalog.count("instances", {}) == 0


def test_a_full_disk_while_spooling_is_507_and_nothing_is_stored(
    empty: Served, data_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import pacslab.dicomweb.multipart

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pacslab.dicomweb.multipart.os, "write", full)
    body, ctype = _multipart([p.read_bytes() for p in _generated(data_files)[:2]])
    r = _post(empty, body, ctype)
    monkeypatch.undo()
    assert r.status_code == 507, r.text
    assert "storage is full" in r.json()["message"]
    assert empty.archive.catalog.count("instances", {}) == 0
    assert _spooled_requests(empty) == []


def test_spool_folders_left_by_a_stopped_server_go_once_an_hour_old(empty: Served, data_files: list[Path]) -> None:
    import os
    import time

    # Given folders a server left in the spool when it stopped: one two hours old, one just now
    old, recent = _spool_folder(empty) / "old-request", _spool_folder(empty) / "recent-request"
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "1").write_bytes(b"half a part")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    # When the server spools its first request
    body, ctype = _multipart([_generated(data_files)[0].read_bytes()])
    assert _post(empty, body, ctype).status_code == 200
    # Then the old folder is gone and the recent one stays
    assert _spooled_requests(empty) == [recent]


def test_no_spool_where_received_files_cannot_be_moved_into_place(tmp_path: Path) -> None:
    from pacslab import open_archive
    from pacslab.dicomweb import DicomwebService

    ctype = 'multipart/related; type="application/dicom"; boundary=x'
    archive = open_archive(tmp_path / "a", create=True)
    assert DicomwebService(archive).spool(ctype) is not None
    # bodies that are not multipart application/dicom with a boundary are left to the service to answer
    for other in ("application/json", 'multipart/related; type="application/dicom"',
                  'multipart/related; type="application/dicom+json"; boundary=x'):  # fmt: skip
        assert DicomwebService(archive).spool(other) is None
    archive.close()
    memory = open_archive("memory://spool-test/a", create=True)
    assert memory.originals.spool() is None and DicomwebService(memory).spool(ctype) is None
    memory.close()


def test_stow_bodies_and_the_c_store_spool_keep_out_of_each_others_folders(
    tmp_path: Path, data_files: list[Path]
) -> None:
    import os
    import time

    from pacslab import open_archive
    from pacslab.dicomweb import DicomwebService
    from pacslab.dimse._spool import Spool

    # Given a C-STORE receiver running (idle for two hours) and a STOW-RS body half received, on one archive
    archive = open_archive(tmp_path / "a", create=True)
    receiver = Spool(archive)
    receiver.start()
    two_hours_ago = time.time() - 7200
    os.utime(receiver.directory, (two_hours_ago, two_hours_ago))
    body, ctype = _multipart([p.read_bytes() for p in _generated(data_files)[:2]])
    spool = DicomwebService(archive).spool(ctype)  # its first use removes stale STOW-RS folders
    assert spool is not None
    spool.feed(body[: len(body) // 2])
    received = sorted(os.listdir(spool.directory))
    # When a second C-STORE receiver starts, adopting what stopped receivers left
    other = Spool(archive)
    other.start()
    other.stop()
    # Then the part being received is where it was, and the idle receiver keeps its folder
    assert received == ["1"] and sorted(os.listdir(spool.directory)) == received
    assert os.path.isdir(receiver.directory)
    spool.discard()
    receiver.stop()
    archive.close()
