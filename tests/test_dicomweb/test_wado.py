"""WADO-RS: instances, metadata, bulk data, frames, rendered and thumbnails from a running server."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_helpers import Served
from PIL import Image


def _by_sop(files: list[Path]) -> dict[str, bytes]:
    out = {}
    for path in files:
        data = path.read_bytes()
        out[str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)] = data
    return out


def _ct_study(served: Served) -> tuple[str, str]:
    row = served.archive.series(SeriesDescription="CT CHEST 5mm").iloc[0]
    return row["StudyInstanceUID"], row["SeriesInstanceUID"]


def _raw_multipart(served: Served, path: str, accept: str) -> list[bytes]:
    from dicomweb_client.api import DICOMwebClient

    r = requests.get(f"{served.url}{path}", headers={**served.headers(), "Accept": accept})
    assert r.status_code == 200, r.text
    client = DICOMwebClient(served.url)
    return list(client._decode_multipart_message(r, stream=False))


def test_retrieve_study_is_byte_identical(served: Served, data_files: list[Path]) -> None:
    originals = _by_sop(data_files)
    study, _ = _ct_study(served)
    assert "pxr" in set(served.archive.instances(StudyInstanceUID=study).stored_codec)  # rebuilt from volumes
    parts = _raw_multipart(served, f"/studies/{study}", 'multipart/related; type="application/dicom"')
    assert len(parts) == 16
    for part in parts:
        sop = str(pydicom.dcmread(io.BytesIO(part), stop_before_pixels=True).SOPInstanceUID)
        assert hashlib.sha256(part).digest() == hashlib.sha256(originals[sop]).digest()


def test_retrieve_with_dicomweb_client(served: Served, data_files: list[Path]) -> None:
    originals = _by_sop(data_files)
    client = served.client()
    study, series = _ct_study(served)
    datasets = client.retrieve_series(study, series)
    assert len(datasets) == 8
    assert {str(d.SeriesInstanceUID) for d in datasets} == {series}
    assert len(client.retrieve_study(study)) == 16
    sop = str(datasets[3].SOPInstanceUID)
    one = client.retrieve_instance(study, series, sop)
    buffer = io.BytesIO()
    one.save_as(buffer, enforce_file_format=True)
    original = pydicom.dcmread(io.BytesIO(originals[sop]))
    assert np.array_equal(one.pixel_array, original.pixel_array)
    assert one.PatientName == original.PatientName


def test_retrieve_compressed_original(served: Served, data_files: list[Path]) -> None:
    originals = _by_sop(data_files)
    row = served.archive.instances(TransferSyntaxUID="1.2.840.10008.1.2.4.80").iloc[0]
    path = f"/studies/{row['StudyInstanceUID']}/series/{row['SeriesInstanceUID']}/instances/{row['SOPInstanceUID']}"
    (part,) = _raw_multipart(served, path, 'multipart/related; type="application/dicom"; transfer-syntax=*')
    assert part == originals[row["SOPInstanceUID"]]


def test_unknown_study_is_404(served: Served) -> None:
    r = requests.get(f"{served.url}/studies/1.2.3.4/metadata", headers=served.headers())
    assert r.status_code == 404
    assert "1.2.3.4" in r.json()["message"]
    study, series = _ct_study(served)
    r = requests.get(f"{served.url}/studies/1.2.3/series/{series}", headers=served.headers())
    assert r.status_code == 404  # a series is looked up inside its study


def test_not_acceptable_is_406(served: Served) -> None:
    study, _ = _ct_study(served)
    r = requests.get(f"{served.url}/studies/{study}", headers={**served.headers(), "Accept": "text/html"})
    assert r.status_code == 406


def test_series_metadata_has_bulk_data_uris(served: Served) -> None:
    client = served.client()
    study, series = _ct_study(served)
    metadata = client.retrieve_series_metadata(study, series)
    assert len(metadata) == 8
    first = metadata[0]
    assert first["0020000E"]["Value"] == [series]
    uri = first["7FE00010"]["BulkDataURI"]
    sop = first["00080018"]["Value"][0]
    assert uri == f"{served.url}/studies/{study}/series/{series}/instances/{sop}/bulk/7FE00010"
    (pixels,) = _raw_multipart(
        served, uri.removeprefix(served.url), 'multipart/related; type="application/octet-stream"'
    )
    assert len(pixels) == 64 * 64 * 2
    ds = pydicom.dataset.Dataset.from_json(first, bulk_data_uri_handler=lambda *args: b"")
    assert ds.Rows == 64
    assert len(client.retrieve_study_metadata(study)) == 16
    assert len(client.retrieve_instance_metadata(study, series, sop)) > 10


def test_frames_uncompressed(served: Served, data_files: list[Path]) -> None:
    originals = _by_sop(data_files)
    client = served.client()
    row = served.archive.instances(SOPClassUID="1.2.840.10008.5.1.4.1.1.7").iloc[0]  # SC_rgb_rle_2frame
    study, series, sop = row["StudyInstanceUID"], row["SeriesInstanceUID"], row["SOPInstanceUID"]
    frames = client.retrieve_instance_frames(study, series, sop, frame_numbers=[2, 1])
    expected = pydicom.dcmread(io.BytesIO(originals[sop])).pixel_array
    assert len(frames) == 2
    assert np.array_equal(np.frombuffer(frames[0], np.uint8).reshape(expected[1].shape), expected[1])
    assert np.array_equal(np.frombuffer(frames[1], np.uint8).reshape(expected[0].shape), expected[0])
    r = requests.get(f"{served.url}/studies/{study}/series/{series}/instances/{sop}/frames/3", headers=served.headers())
    assert r.status_code == 404


def test_frames_in_stored_transfer_syntax(served: Served) -> None:
    row = served.archive.instances(TransferSyntaxUID="1.2.840.10008.1.2.4.80").iloc[0]
    path = f"/studies/{row['StudyInstanceUID']}/series/{row['SeriesInstanceUID']}/instances/{row['SOPInstanceUID']}"
    (frame,) = _raw_multipart(served, path + "/frames/1", 'multipart/related; type="image/jls"; transfer-syntax=*')
    assert frame[:2] == b"\xff\xd8"  # a JPEG-LS codestream
    (raw,) = _raw_multipart(served, path + "/frames/1", 'multipart/related; type="application/octet-stream"')
    assert len(raw) == 64 * 64 * 2


def test_rendered_and_thumbnail(served: Served) -> None:
    client = served.client()
    study, series = _ct_study(served)
    sop = served.archive.instances(SeriesInstanceUID=series)["SOPInstanceUID"].iloc[0]
    jpeg = client.retrieve_instance_rendered(study, series, sop, media_types=("image/jpeg",))
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
    png = client.retrieve_instance_rendered(
        study, series, sop, media_types=("image/png",), params={"window": "40,400,linear", "viewport": "32,32"}
    )
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (32, 32)
    lung = np.asarray(Image.open(io.BytesIO(client.retrieve_instance_rendered(
        study, series, sop, media_types=("image/png",), params={"window": "-600,1500"}))))  # fmt: skip
    soft = np.asarray(Image.open(io.BytesIO(client.retrieve_instance_rendered(
        study, series, sop, media_types=("image/png",), params={"window": "40,80"}))))  # fmt: skip
    assert not np.array_equal(lung, soft)
    series_png = client.retrieve_series_rendered(study, series, media_types=("image/png",))
    assert Image.open(io.BytesIO(series_png)).size == (64, 64)
    for path in (f"/studies/{study}/thumbnail", f"/studies/{study}/series/{series}/thumbnail",
                 f"/studies/{study}/series/{series}/instances/{sop}/frames/1/rendered"):  # fmt: skip
        r = requests.get(served.url + path, headers={**served.headers(), "Accept": "image/png"})
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    r = requests.get(
        served.url + f"/studies/{study}/series/{series}/rendered?window=1,2,cubic", headers=served.headers()
    )
    assert r.status_code == 400


@pytest.mark.parametrize("name", ["CT_small.dcm", "JPEG2000.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_rendered_pydicom_files(served: Served, name: str) -> None:
    rows = served.archive.instances()
    row = rows[rows["source"].str.endswith(name)].iloc[0]
    path = f"/studies/{row['StudyInstanceUID']}/series/{row['SeriesInstanceUID']}/instances/{row['SOPInstanceUID']}"
    r = requests.get(served.url + path + "/rendered", headers={**served.headers(), "Accept": "image/jpeg"})
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.content)).size == (int(row["Columns"]), int(row["Rows"]))


def test_retrievals_are_audited(served: Served) -> None:
    study, _ = _ct_study(served)
    served.client().retrieve_study_metadata(study)
    log = served.archive.audit_log()
    row = log[(log["action"] == "retrieve") & (log["service"] == "dicomweb")].iloc[-1]
    assert study in row["uids"] and row["count"] == 16


def test_a_retrieval_the_client_cuts_short_is_audited_and_the_server_serves_on(tmp_path: Path) -> None:
    import socket
    import time

    import pacslab
    from pacslab import examples
    from pacslab.dicomweb import DicomwebServer

    series = examples.generate_ct_series(seed=41, n_slices=48, rows=512, columns=512)  # 25 MB
    examples.write_series(series, tmp_path / "in")
    archive = pacslab.open_archive(tmp_path / "archive", create=True)
    archive.ingest(tmp_path / "in", progress=False)
    study = str(series[0].StudyInstanceUID)
    with DicomwebServer(archive, port=0, stable_delay=None) as server:
        served = Served(archive, server)
        request = (
            f"GET /dicom-web/studies/{study} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {served.headers()['Authorization']}\r\n"
            'Accept: multipart/related; type="application/dicom"\r\n\r\n'
        ).encode()
        with socket.socket() as sock:  # a small receive buffer: the server cannot send it all before we close
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(request)
            received = b""
            while len(received) < 256 << 10:
                received += sock.recv(65536)
            assert received.startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            log = archive.audit_log()
            cut = log[(log["action"] == "retrieve") & (log["outcome"] == "partial")]
            if len(cut):
                break
            time.sleep(0.1)
        assert len(cut) == 1, log[["action", "outcome", "detail"]].to_dict("records")
        assert study in cut.iloc[0]["uids"] and "closed the connection after" in cut.iloc[0]["detail"]
        # the server goes on serving: the whole study, byte for byte, and audited as a success
        parts = _raw_multipart(served, f"/studies/{study}", 'multipart/related; type="application/dicom"')
        sent = {p.read_bytes() for p in (tmp_path / "in").rglob("*.dcm")}
        assert len(parts) == 48 and {bytes(p) for p in parts} == sent
        log = archive.audit_log()
        assert list(log[log["action"] == "retrieve"]["outcome"])[-1] == "success"
    archive.close()
