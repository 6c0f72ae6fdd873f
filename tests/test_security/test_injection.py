"""Injection and path traversal: query parameters, UIDs in URL paths, C-FIND identifiers, file names.

Every attempt is refused with a 4xx / failure status and a reason, or matches nothing; no
5xx; the catalog is unchanged and no file appears outside the archive.
"""

from __future__ import annotations

import http.client
import io
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests
from pydicom.dataset import Dataset

import pacslab
from pacslab.dicomweb import DicomwebServer, create_token
from pacslab.dimse import DicomServer, find
from pacslab.errors import PacslabError
from pacslab.examples import generate_ct_series, make_patient, make_study, write_series

EXTENSION = Path(__file__).resolve().parents[2] / "extensions" / "jupyterlab-pacslab"


class Site:
    """An archive of two small studies behind DICOMweb and DICOM, in a sandbox folder."""

    def __init__(self, sandbox: Path) -> None:
        self.sandbox = sandbox
        for seed in (1, 2):
            series = generate_ct_series(seed=seed, n_slices=2, rows=16, columns=16, patient=make_patient(seed=seed),
                                        study=make_study(seed=seed, kind="ct"))  # fmt: skip
            write_series(series, sandbox / "input" / str(seed))
        self.archive = pacslab.open_archive(sandbox / "archive", create=True)
        self.archive.ingest(sandbox / "input", progress=False, build_volumes=False)
        self.study = str(self.archive.studies()["StudyInstanceUID"].iloc[0])
        self.web = DicomwebServer(self.archive, port=0, stable_delay=None).start()
        self.dicom = DicomServer(self.archive, port=0, host="127.0.0.1", tls=False, spool=False).start()
        self.tokens = {
            role: create_token(self.archive, role=role, name=f"t-{role}") for role in ("read", "write", "admin")
        }

    def headers(self, role: str = "read") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def snapshot(self) -> tuple[Any, ...]:
        """Catalog counts, rejections, and every file of the sandbox outside the archive."""
        outside = sorted(
            os.path.relpath(os.path.join(d, f), self.sandbox)
            for d, _, files in os.walk(self.sandbox)
            if not Path(d).is_relative_to(self.sandbox / "archive")
            for f in files
        )
        counts = {k: v for k, v in self.archive.catalog.counts().items() if k != "rejections"}
        return counts, len(self.archive.rejections()), len(self.archive.conflicts()), outside

    def raw(self, method: str, path: str, *, role: str = "read", body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
        """A request with *path* sent exactly as given (no client-side normalisation of ``..`` or ``%2e``)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.web.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={**self.headers(role), **(headers or {})})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    s = Site(tmp_path_factory.mktemp("injection"))
    try:
        yield s
    finally:
        s.dicom.stop()
        s.web.stop()
        s.archive.close()


# -- QIDO-RS query parameters -----------------------------------------------------------------------
NO_MATCH = [
    {"PatientName": "' OR 1=1 --"},
    {"PatientName": "*' OR '1'='1"},
    {"PatientName": "x\\' OR 1=1; --"},
    {"PatientName": "\x00"},
    {"PatientID": "%"},
    {"PatientID": "_"},
    {"PatientID": "%%' OR ''='"},
    {"StudyDescription": "') UNION SELECT * FROM instances --"},
    {"StudyInstanceUID": "1.2.3' OR '1'='1"},
    {"StudyInstanceUID": "1,2) OR (1=1"},
    {"StudyInstanceUID": "../../etc/passwd"},
    {"StudyDate": "20000101-' OR 1=1 --"},
    {"ModalitiesInStudy": "CT' OR '1'='1"},
    {"PatientName": "Ω' OR 1=1 --"},
]
REFUSED = [
    {"includefield": "PatientName;DROP TABLE instances"},
    {"includefield": "00100010;--"},
    {"includefield": "PatientName,') OR 1=1 --"},
    {"Foo": "1"},
    {"PatientName' OR '1'='1": "x"},
    {"1=1": "1"},
    {"FFFFFFFF": "1"},
    {"GGGG0010": "1"},
    {"001000100": "x"},
    {"0010001": "x"},
    {"(0010,0010)": "x"},
    {"limit": "1; DROP TABLE studies"},
    {"offset": "-1"},
    {"offset": "0 OR 1=1"},
    {"StudyDate": "'; DROP TABLE studies; --"},
    {"Ω' OR 1=1 --": "1"},  # not ASCII: the reason quotes it in the Warning header
    {"Patient\x01Name": "x"},
    {"limit": "\u2013"},
]


def _qido(site: Site, params: dict[str, str]) -> requests.Response:
    return requests.get(site.web.url + "/studies", params=params, headers=site.headers(), timeout=60)


def test_qido_matches_what_it_should(site: Site) -> None:
    # the positive control: the queries below could match, these do
    assert len(_qido(site, {"PatientName": "*"}).json()) == 2
    assert len(_qido(site, {"StudyInstanceUID": site.study}).json()) == 1


@pytest.mark.parametrize("params", NO_MATCH, ids=lambda p: repr(p)[:40])
def test_qido_injection_matches_nothing(site: Site, params: dict[str, str]) -> None:
    before = site.snapshot()
    r = _qido(site, params)
    assert r.status_code in (200, 400), (r.status_code, r.text[:300])
    if r.status_code == 200:
        assert r.json() == [], f"{params} matched {len(r.json())} studies"
    else:
        assert r.json()["message"]
    assert site.snapshot() == before


@pytest.mark.parametrize("params", REFUSED, ids=lambda p: repr(p)[:40])
def test_qido_bad_parameter_is_refused(site: Site, params: dict[str, str]) -> None:
    before = site.snapshot()
    r = _qido(site, params)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert r.json()["message"] and r.headers["Warning"].startswith("299 ")
    assert site.snapshot() == before


def test_qido_very_long_value(site: Site) -> None:
    before = site.snapshot()
    r = _qido(site, {"PatientName": "A" * 60_000})
    assert r.status_code < 500 and (r.status_code >= 400 or r.json() == []), r.status_code
    assert site.snapshot() == before


# -- UIDs in URL paths ----------------------------------------------------------------------------------
BAD_UIDS = ["..", "%2e%2e", "..%2f..%2fetc", "%2E%2E%2F%2E%2E", "1.2.3%00", "%00", "1.2.3%2f..%2f..", "1" * 10_000,
            ".", "...", "1.2.3;rm", "*", "1.2.3'--"]  # fmt: skip


def _paths(site: Site, bad: str) -> list[tuple[str, str]]:
    good = f"/dicom-web/studies/{site.study}"
    return [
        ("GET", f"/dicom-web/studies/{bad}"),
        ("GET", f"/dicom-web/studies/{bad}/metadata"),
        ("GET", f"{good}/series/{bad}"),
        ("GET", f"{good}/series/{bad}/instances/{bad}"),
        ("GET", f"{good}/series/{bad}/instances/{bad}/frames/1"),
        ("GET", f"{good}/series/{bad}/instances/{bad}/bulk/7FE00010"),
        ("GET", f"/dicom-web/studies/{bad}/thumbnail"),
        ("DELETE", f"/dicom-web/studies/{bad}"),
        ("DELETE", f"{good}/series/{bad}"),
    ]


@pytest.mark.parametrize("bad", BAD_UIDS, ids=lambda b: b[:20])
def test_hostile_uid_in_path_is_refused(site: Site, bad: str) -> None:
    before = site.snapshot()
    for method, path in _paths(site, bad):
        status, body = site.raw(method, path, role="admin")
        assert 400 <= status < 500, (method, path[:120], status, body[:200])
    assert site.snapshot() == before


@pytest.mark.parametrize("bad", ["..", "%2e%2e", "1.2.3%2f..%2f..", "9" * 5000])
def test_stow_into_hostile_study_path_stores_nothing(site: Site, bad: str) -> None:
    data = (site.sandbox / "input" / "1").rglob("*.dcm").__next__().read_bytes()
    part = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--b--\r\n"
    before = site.snapshot()
    content_type = 'multipart/related; type="application/dicom"; boundary=b'
    status, body = site.raw("POST", f"/dicom-web/studies/{bad}", role="write", body=part,
                            headers={"Content-Type": content_type})  # fmt: skip
    assert 400 <= status < 500, (status, body[:300])
    assert site.snapshot()[0] == before[0]  # counts unchanged (a 409 may add a store audit entry only)


def test_frame_list_injection_is_refused(site: Site) -> None:
    row = site.archive.instances(StudyInstanceUID=site.study).iloc[0]
    base = f"/dicom-web/studies/{site.study}/series/{row['SeriesInstanceUID']}/instances/{row['SOPInstanceUID']}"
    for frames in ("0", "1,0", "%00", "1;2", "-1", "99999999999999999999"):
        status, body = site.raw("GET", f"{base}/frames/{frames}")
        assert 400 <= status < 500, (frames, status, body[:200])


# -- C-FIND identifiers ------------------------------------------------------------------------------------
FIND_ATTEMPTS = [
    {"PatientName": "' OR 1=1 --"},
    {"PatientName": "*' OR '1'='1"},
    {"PatientID": "%"},
    {"PatientID": "_"},
    {"StudyDescription": "') UNION SELECT * FROM instances --"},
    {"StudyInstanceUID": "1.2.3' OR '1'='1"},
    {"StudyInstanceUID": "../../x"},
    {"StudyInstanceUID": "1\\2\\' OR 1=1"},
    {"AccessionNumber": "x'; DROP TABLE studies; --"},
]


@pytest.mark.parametrize("filters", FIND_ATTEMPTS, ids=lambda f: repr(f)[:40])
def test_c_find_injection_matches_nothing(site: Site, filters: dict[str, str]) -> None:
    before = site.snapshot()
    try:
        found = find(site.dicom.remote, "STUDY", calling_ae_title="INJECTOR", **filters)
    except PacslabError as exc:  # a failure status: it must carry a reason
        assert str(exc)
    else:
        assert len(found) == 0, f"{filters} matched {len(found)} studies"
    assert site.snapshot()[:3] == before[:3] and site.snapshot()[3] == before[3]
    assert len(find(site.dicom.remote, "STUDY", calling_ae_title="INJECTOR", PatientName="*")) == 2


def test_c_find_identifier_with_raw_bytes(site: Site) -> None:
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientName = "\x00' OR 1=1 --"
    identifier.PatientID = "\\" * 64
    identifier.StudyInstanceUID = ""
    try:
        found = find(site.dicom.remote, "STUDY", identifier=identifier, calling_ae_title="INJECTOR")
    except PacslabError as exc:
        assert str(exc)
    else:
        assert len(found) == 0


# -- file names: uploads and exports ---------------------------------------------------------------------------
@pytest.fixture
def upload(monkeypatch: pytest.MonkeyPatch, site: Site, tmp_path: Path) -> Any:
    """The Jupyter extension's upload function, its temporary files under ``tmp_path/tmp``."""
    monkeypatch.syspath_prepend(str(EXTENSION))
    sys.modules.pop("pacslab_jupyterlab", None)
    ext = pytest.importorskip("pacslab_jupyterlab", reason="jupyter_server is needed for the extension")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    state = ext._State(site.archive, "/pacslab/dicom-web", "write")
    return lambda name, body: ext._ingest_upload(state, name, body, False)


def _not_dicom_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "name",
    ["../../escaped.dcm", "/tmp/abs.dcm", "..", ".", "", "..\\..\\win.dcm", "a/../../b.dcm", "x\x00.dcm",
     "n" * 300, "é" * 200, "%2e%2e%2fescaped.dcm"],
    ids=["dotdot", "absolute", "parent", "current", "empty", "backslash", "inner-dotdot", "nul", "long",
         "long-utf8", "encoded"],
)  # fmt: skip
def test_upload_file_name_cannot_escape(upload: Any, site: Site, tmp_path: Path, name: str) -> None:
    import tornado.web

    before = site.snapshot()
    try:
        result = upload(name, b"not DICOM, just bytes" * 10)
    except tornado.web.HTTPError as exc:  # refused: a 4xx with a reason
        assert 400 <= exc.status_code < 500 and exc.reason, exc
    else:
        assert len(result["rejected"]) == 1 and result["rejected"][0][1], result
        assert "/" not in result["filename"] and result["filename"] not in ("", ".", "..")
    assert _files(tmp_path) == [], "a file was left or written outside the upload's temporary folder"
    counts, rejections, conflicts, outside = site.snapshot()
    assert (counts, conflicts, outside) == (before[0], before[2], before[3])


@pytest.mark.parametrize(
    "member",
    ["../escaped.dcm", "../../escaped.dcm", "/abs/escaped.dcm", "../unzippedX/escaped.dcm", "a/../../escaped.dcm"],
)
def test_zip_upload_member_cannot_escape(upload: Any, site: Site, tmp_path: Path, member: str) -> None:
    import tornado.web

    before = site.snapshot()
    body = _not_dicom_zip({"ok.txt": b"fine", member: b"escaped"})
    with pytest.raises(tornado.web.HTTPError) as info:  # even into a sibling of the unzip folder
        upload("study.zip", body)
    assert info.value.status_code == 400 and "unsafe" in str(info.value.reason)
    assert _files(tmp_path) == []
    assert site.snapshot()[0] == before[0] and site.snapshot()[3] == before[3]


@pytest.mark.parametrize("uid", ["../../x", "..", "1.2.3/../../4", "", "*", "1.2.3\x00"])
def test_export_of_hostile_uid_writes_nothing(site: Site, tmp_path: Path, uid: str) -> None:
    before = site.snapshot()
    with pytest.raises((PacslabError, ValueError)) as info:
        site.archive.export(uid, tmp_path / "out")
    assert str(info.value)
    assert _files(tmp_path) == []
    assert site.snapshot()[0] == before[0]


def test_export_names_files_by_uid_inside_the_destination(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "dest"
    paths = site.archive.export(site.study, out)
    assert paths and all(Path(p).resolve().is_relative_to(out.resolve()) for p in paths)
    for p in paths:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        assert Path(p).relative_to(out).parts == (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID + ".dcm")


def test_stow_part_file_names_are_ignored(site: Site) -> None:
    # Given parts that name files outside the archive (Content-Disposition, Content-Location)
    data = next((site.sandbox / "input" / "2").rglob("*.dcm")).read_bytes()
    headers = [
        b'Content-Disposition: attachment; filename="../../../escaped.dcm"',
        b"Content-Location: ../../../escaped-location.dcm",
        b'Content-Disposition: attachment; filename="/tmp/escaped-absolute.dcm"',
    ]
    parts = [b"--b\r\nContent-Type: application/dicom\r\n" + h + b"\r\n\r\n" + d + b"\r\n"
             for h, d in zip(headers, (data, b"not DICOM" * 20, data), strict=True)]  # fmt: skip
    before = site.snapshot()
    # When they are stored
    content_type = 'multipart/related; type="application/dicom"; boundary=b'
    body = b"".join(parts) + b"--b--\r\n"
    status, body = site.raw(
        "POST", "/dicom-web/studies", role="write", body=body, headers={"Content-Type": content_type}
    )
    # Then the DICOM parts are stored (a duplicate here), the other rejected with a reason, nothing written outside
    assert status == 202, body[:300]
    after = site.snapshot()
    assert after[0] == before[0] and after[1] == before[1] + 1 and after[3] == before[3]
    assert not any(p.name.startswith("escaped") for p in Path("/tmp").iterdir())


CT_IMAGE, EXPLICIT = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1"


@pytest.mark.parametrize("calling", ["../../../x", "'; DROP --", "%2e%2e/%2e%2e", "*"])
def test_c_store_from_a_hostile_ae_title_stays_in_the_archive(site: Site, calling: str) -> None:
    from pynetdicom import AE

    from pacslab.dimse import EncodedInstance
    from pacslab.dimse._raw import install, keep_responses

    install()
    ae = AE(ae_title=calling)
    ae.add_requested_context(CT_IMAGE, [EXPLICIT])
    assoc = ae.associate("127.0.0.1", site.dicom.port, ae_title=site.dicom.ae_title)
    assert assoc.is_established
    keep_responses(assoc)
    before = site.snapshot()
    try:
        body = b"\x08\x00\x16\x00UI\x04\x001.2\x00" + b"junk" * 10
        garbage = EncodedInstance(body, sop_class_uid=CT_IMAGE, sop_instance_uid="1.2.3.4", transfer_syntax=EXPLICIT)
        status = assoc.send_c_store(garbage)
    finally:
        assoc.release()
    assert status and int(status.Status) != 0 and str(status.ErrorComment)
    after = site.snapshot()
    assert after[1] == before[1] + 1 and after[3] == before[3]
    path = site.archive.rejections()["quarantine_path"].iloc[-1]
    assert path.startswith("quarantine/") and ".." not in path and "\\" not in path


@pytest.mark.parametrize("name", ["a" * 250, "é" * 127, "-rf", "x\ny.dcm", "' OR 1=1 --.dcm", "%2e%2e"])
def test_folder_ingest_of_odd_file_names_quarantines_inside_the_archive(tmp_path: Path, name: str) -> None:
    # Given a folder with a non-DICOM file whose name is long, multi-byte, or looks like code
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / name).write_bytes(b"not DICOM" * 20)
    archive = pacslab.open_archive(tmp_path / "archive", create=True)
    try:
        # When it is ingested, it is rejected with its reason (the ingest does not fail)
        report = archive.ingest(tmp_path / "in", progress=False, build_volumes=False)
        ((source, reason),) = report.rejected
        assert source.endswith(name) and reason
        # and quarantined inside the archive, its ".reason.txt" naming the input whole
        (key,) = archive.rejections()["quarantine_path"]
        path = (tmp_path / "archive" / key).resolve()
        assert path.is_relative_to((tmp_path / "archive" / "quarantine").resolve()) and path.is_file()
        assert name in Path(str(path) + ".reason.txt").read_text()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "in"]
        assert archive.verify().ok
    finally:
        archive.close()


@pytest.mark.parametrize(
    "params",
    [
        {"window": "nan,nan"},
        {"window": "1e309,1"},
        {"window": "40,1e-320"},
        {"window": "40,400,' OR 1=1"},
        {"viewport": "0,0"},
        {"viewport": "100000,100000"},
        {"viewport": "-1,5"},
        {"viewport": "1e3,1e3"},
        {"quality": "1000"},
        {"quality": "'; DROP TABLE studies"},
    ],
    ids=lambda p: repr(p)[:30],
)
def test_rendered_parameters_are_checked(site: Site, params: dict[str, str]) -> None:
    series = site.archive.series(StudyInstanceUID=site.study)["SeriesInstanceUID"].iloc[0]
    url = f"{site.web.url}/studies/{site.study}/series/{series}/rendered"
    r = requests.get(url, params=params, headers={**site.headers(), "Accept": "image/jpeg"}, timeout=60)
    assert r.status_code in (200, 400), (r.status_code, r.text[:300])
    if r.status_code == 400:
        assert r.json()["message"]
