"""Parity with Orthanc's DICOMweb plugin: the same QIDO-RS queries over the same data give the same answers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from dicomweb_helpers import Served
from pydicom.datadict import tag_for_keyword

from tests.conftest import requires_command

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _peers import Orthanc  # noqa: E402

pytestmark = [pytest.mark.peers, requires_command("Orthanc")]

STUDY = ("StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy", "ReferringPhysicianName", "PatientName",
         "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID", "NumberOfStudyRelatedSeries",
         "NumberOfStudyRelatedInstances")  # fmt: skip
SERIES = ("Modality", "SeriesDescription", "SeriesInstanceUID", "SeriesNumber", "NumberOfSeriesRelatedInstances")
INSTANCE = ("SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns", "NumberOfFrames")


@pytest.fixture(scope="module")
def orthanc(data_files: list[Path]) -> Iterator[str]:
    """Orthanc (Debian's, with its DICOMweb plugin) on free ports holding the same files; yields its DICOMweb root."""
    peer = Orthanc()
    try:
        for path in data_files:
            r = requests.post(f"http://127.0.0.1:{peer.http_port}/instances", data=path.read_bytes(), timeout=30)
            assert r.ok, r.text
        yield f"http://127.0.0.1:{peer.http_port}/dicom-web"
    finally:
        peer.stop()


def _get(url: str, query: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    # a literal "*": Orthanc 1.10 finds nothing when it is percent-encoded
    r = requests.get(f"{url}{query}", headers={"Accept": "application/dicom+json", **(headers or {})}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json() if r.content else []


def _normal(element: dict[str, Any] | None, keyword: str) -> Any:
    values = (element or {}).get("Value") or []
    out = []
    for v in values:
        if isinstance(v, dict):
            v = v.get("Alphabetic", "")
        if keyword in ("ModalitiesInStudy",):
            out.append(str(v))
        elif (
            isinstance(v, str)
            and v.strip().lstrip("-").isdigit()
            and keyword not in ("StudyID", "AccessionNumber", "PatientID")
        ):
            out.append(int(v))
        else:
            out.append(v.strip() if isinstance(v, str) else v)
    return sorted(out, key=str) if keyword == "ModalitiesInStudy" else out


def _by_uid(results: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    tag = f"{tag_for_keyword(key):08X}"
    return {r[tag]["Value"][0]: r for r in results}


QUERIES = [
    ("/studies", "StudyInstanceUID", STUDY),
    ("/studies?PatientName=EXAMPLE*", "StudyInstanceUID", STUDY),
    ("/studies?ModalitiesInStudy=CT", "StudyInstanceUID", STUDY),
    ("/studies?StudyDate=20000101-", "StudyInstanceUID", STUDY),
    ("/series?Modality=MR", "SeriesInstanceUID", SERIES),
    ("/series", "SeriesInstanceUID", SERIES),
    ("/instances?Modality=CT", "SOPInstanceUID", INSTANCE),
]


@pytest.mark.parametrize(("query", "key", "keywords"), QUERIES, ids=[q[0] for q in QUERIES])
def test_same_answers_as_orthanc(served: Served, orthanc: str, query: str, key: str, keywords: tuple[str, ...]) -> None:
    ours = _by_uid(_get(served.url, query, served.headers()), key)
    theirs = _by_uid(_get(orthanc, query), key)
    assert sorted(ours) == sorted(theirs)
    assert ours
    for uid in ours:
        for keyword in keywords:
            tag = f"{tag_for_keyword(keyword):08X}"
            assert _normal(ours[uid].get(tag), keyword) == _normal(theirs[uid].get(tag), keyword), (uid, keyword)


def test_same_series_and_instances_of_a_study(served: Served, orthanc: str) -> None:
    for study in _by_uid(_get(orthanc, "/studies"), "StudyInstanceUID"):
        ours = _by_uid(_get(served.url, f"/studies/{study}/series", served.headers()), "SeriesInstanceUID")
        theirs = _by_uid(_get(orthanc, f"/studies/{study}/series"), "SeriesInstanceUID")
        assert sorted(ours) == sorted(theirs)
        for series in ours:
            path = f"/studies/{study}/series/{series}/instances"
            assert sorted(_by_uid(_get(served.url, path, served.headers()), "SOPInstanceUID")) == sorted(
                _by_uid(_get(orthanc, path), "SOPInstanceUID")
            )
