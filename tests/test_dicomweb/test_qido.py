"""QIDO-RS: searches with dicomweb-client and raw HTTP against a running server."""

from __future__ import annotations

import pytest
import requests
from dicomweb_helpers import Served
from pydicom.datadict import tag_for_keyword


def value(result: dict, keyword: str):
    element = result.get(f"{tag_for_keyword(keyword):08X}", {})
    values = element.get("Value")
    return values[0] if values else None


def test_search_for_studies_returns_the_required_attributes(served: Served) -> None:
    # Given a server over 2 generated studies and 4 of pydicom's files
    client = served.client()
    # When searching every study
    studies = client.search_for_studies()
    # Then each study carries the required return attributes of PS3.18 Table 6.7.1-2
    assert len(studies) == served.archive.catalog.count("studies", {})
    for study in studies:
        for keyword in ("StudyDate", "StudyTime", "AccessionNumber", "InstanceAvailability", "ModalitiesInStudy",
                        "ReferringPhysicianName", "RetrieveURL", "PatientName", "PatientID", "PatientBirthDate",
                        "PatientSex", "StudyInstanceUID", "StudyID", "NumberOfStudyRelatedSeries",
                        "NumberOfStudyRelatedInstances"):  # fmt: skip
            assert f"{tag_for_keyword(keyword):08X}" in study, keyword
        assert value(study, "RetrieveURL") == f"{served.url}/studies/{value(study, 'StudyInstanceUID')}"
        assert value(study, "InstanceAvailability") == "ONLINE"
    ct = next(s for s in studies if value(s, "NumberOfStudyRelatedSeries") == 2)
    assert value(ct, "NumberOfStudyRelatedInstances") == 16
    assert ct["00080061"]["Value"] == ["CT"]
    assert isinstance(value(ct, "PatientName"), dict)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"PatientName": "example^j*"}, 1),  # wildcard, names ignore case
        ({"00100010": "EXAMPLE^JANE"}, 1),  # tag as key
        ({"ModalitiesInStudy": "CT"}, 2),  # generated CT + CT_small
        ({"StudyDate": "19000101-20991231"}, None),  # range that holds every dated study
        ({"StudyDescription": "MR*"}, 1),
    ],
)
def test_search_for_studies_with_filters(served: Served, filters: dict, expected: int | None) -> None:
    studies = served.client().search_for_studies(search_filters=filters, fuzzymatching=True)
    if expected is None:
        dated = served.archive.catalog.count("studies", {"StudyDate": "19000101-20991231"})
        assert len(studies) == dated > 0
    else:
        assert len(studies) == expected


def test_uid_list_matching(served: Served) -> None:
    uids = list(served.archive.studies()["StudyInstanceUID"][:2])
    studies = served.client().search_for_studies(search_filters={"StudyInstanceUID": uids})
    assert sorted(value(s, "StudyInstanceUID") for s in studies) == sorted(uids)
    r = requests.get(f"{served.url}/studies", params={"StudyInstanceUID": ",".join(uids)}, headers=served.headers())
    assert len(r.json()) == 2


def test_paging_warns_when_truncated(served: Served) -> None:
    client = served.client()
    every = client.search_for_instances()
    assert len(every) == served.archive.catalog.count("instances", {}) == 26
    page = client.search_for_instances(limit=5, offset=3)
    assert [value(i, "SOPInstanceUID") for i in page] == [value(i, "SOPInstanceUID") for i in every[3:8]]
    r = requests.get(f"{served.url}/instances", params={"limit": 5}, headers=served.headers())
    assert r.headers["Warning"].startswith("299 ")
    r = requests.get(f"{served.url}/instances", params={"limit": 100}, headers=served.headers())
    assert "Warning" not in r.headers and len(r.json()) == 26
    # the server's own cap (max_results=50 here) pages too
    assert len(client.search_for_instances(get_remaining=True)) == 26


def test_series_and_instances_in_a_study(served: Served) -> None:
    client = served.client()
    uid = served.archive.studies(ModalitiesInStudy="CT", StudyDescription="CT CHEST")["StudyInstanceUID"].iloc[0]
    series = client.search_for_series(study_instance_uid=uid)
    assert len(series) == 2
    assert {value(s, "SeriesNumber") for s in series} == {1, 2}
    for s in series:
        assert value(s, "NumberOfSeriesRelatedInstances") == 8
        assert value(s, "Modality") == "CT"
        assert value(s, "RetrieveURL").endswith(f"/studies/{uid}/series/{value(s, 'SeriesInstanceUID')}")
    se = value(series[0], "SeriesInstanceUID")
    instances = client.search_for_instances(study_instance_uid=uid, series_instance_uid=se)
    assert len(instances) == 8
    for i in instances:
        for keyword in ("SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns", "BitsAllocated"):
            assert value(i, keyword) is not None, keyword
        assert value(i, "Rows") == 64
    assert len(client.search_for_instances(study_instance_uid=uid)) == 16
    assert len(client.search_for_series(search_filters={"Modality": "MR"})) == 2


def test_includefield(served: Served) -> None:
    client = served.client()
    series = client.search_for_series(
        search_filters={"Modality": "CT"}, fields=["SliceThickness", "00180050", "ProtocolName"]
    )
    thickness = {value(s, "SliceThickness") for s in series}
    assert 5.0 in thickness
    everything = client.search_for_instances(search_filters={"Modality": "MR"}, fields=["all"], limit=1)
    assert "00280030" in everything[0]  # PixelSpacing, from the stored header
    assert "7FE00010" not in everything[0]  # never bulk data
    studies = client.search_for_studies(fields=["all"])
    assert any("00081030" in s for s in studies)  # StudyDescription


def test_attribute_filter_on_header(served: Served) -> None:
    instances = served.client().search_for_instances(search_filters={"SliceThickness": "5"})
    assert len(instances) == served.archive.catalog.count("instances", {"SliceThickness": 5}) >= 8
    assert len(served.client().search_for_instances(search_filters={"SliceThickness": "2.5"})) == 8


@pytest.mark.parametrize("query", ["NotAKeyword=1", "limit=-1", "StudyDate=2020-bad", "offset=x"])
def test_bad_query_is_400(served: Served, query: str) -> None:
    r = requests.get(f"{served.url}/studies?{query}", headers=served.headers())
    assert r.status_code == 400
    assert r.json()["message"]
    assert r.headers["Warning"].startswith("299 ")


def test_queries_are_audited(served: Served) -> None:
    served.client().search_for_studies(search_filters={"PatientID": "nobody"})
    log = served.archive.audit_log()
    row = log[(log["action"] == "query") & (log["service"] == "dicomweb")].iloc[-1]
    assert row["actor"] == "test-read (read)"
    assert row["address"] == "127.0.0.1"
    assert row["outcome"] == "success"
