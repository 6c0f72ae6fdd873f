"""C-FIND matching (PS3.4 C.2.2): single value, wildcard, range, UID list, universal, at every level."""

from __future__ import annotations

import pydicom
import pytest
from dimse_helpers import write_ct_series
from pydicom.dataset import Dataset

from pacslab.dimse import find
from pacslab.dimse._query import QueryError, build_query, retrieve_filters
from pacslab.errors import RemoteError


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """Three studies of two patients on three dates."""
    root = tmp_path_factory.mktemp("studies")
    out = []
    for name, date, desc in (("DOE^JANE", "20240105", "CHEST"), ("DOE^JOHN", "20240220", "HEAD"),
                             ("ROE^RICHARD", "20231231", "CHEST LOW DOSE")):  # fmt: skip
        paths = write_ct_series(root / name, 2, study_seed=name + date, patient=name)
        for path in paths:
            ds = pydicom.dcmread(path)
            ds.StudyDate, ds.StudyDescription, ds.AccessionNumber = date, desc, "A" + date
            ds.save_as(path)
        out += paths
    return out


@pytest.fixture
def loaded(server, studies):
    from pacslab.dimse import send

    assert send(server.remote, studies).ok
    return server


def uids(frame, key="StudyInstanceUID"):
    return sorted(frame[key]) if not frame.empty else []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"PatientName": "DOE^JANE"}, ["DOE^JANE"]),  # single value
        ({"PatientName": "doe*"}, ["DOE^JANE", "DOE^JOHN"]),  # wildcard, names ignore case
        ({"PatientName": "DOE^J?HN"}, ["DOE^JOHN"]),
        ({"StudyDate": "20240101-20240131"}, ["DOE^JANE"]),  # range
        ({"StudyDate": "20240101-"}, ["DOE^JANE", "DOE^JOHN"]),
        ({"StudyDate": "-20231231"}, ["ROE^RICHARD"]),
        ({"StudyDescription": "CHEST*"}, ["DOE^JANE", "ROE^RICHARD"]),
        ({"ModalitiesInStudy": "CT"}, ["DOE^JANE", "DOE^JOHN", "ROE^RICHARD"]),
        ({"ModalitiesInStudy": "MR"}, []),
        ({"AccessionNumber": ""}, ["DOE^JANE", "DOE^JOHN", "ROE^RICHARD"]),  # universal
        ({"SliceThickness": "5"}, ["DOE^JANE", "DOE^JOHN", "ROE^RICHARD"]),  # any header attribute
    ],
)
def test_study_level_matching(loaded, filters, expected):
    frame = find(loaded.remote, "STUDY", **filters)
    assert sorted(frame.PatientName) == expected if not frame.empty else expected == []


def test_uid_list_and_return_keys(loaded):
    every = find(loaded.remote, "STUDY")
    two = uids(every)[:2]
    frame = find(loaded.remote, "STUDY", StudyInstanceUID=two, fields=["PatientBirthDate", "SliceThickness"])
    assert uids(frame) == two
    assert {"StudyDate", "AccessionNumber", "NumberOfStudyRelatedInstances", "SliceThickness"} <= set(frame.columns)
    assert set(frame.NumberOfStudyRelatedInstances) == {2}
    assert set(frame.ModalitiesInStudy) == {"CT"}


def test_series_and_image_levels(loaded):
    study = uids(find(loaded.remote, "STUDY", PatientName="DOE^JANE"))[0]
    series = find(loaded.remote, "SERIES", StudyInstanceUID=study)
    assert len(series) == 1 and series.Modality[0] == "CT" and series.NumberOfSeriesRelatedInstances[0] == 2
    images = find(loaded.remote, "IMAGE", StudyInstanceUID=study, SeriesInstanceUID=series.SeriesInstanceUID[0],
                  fields=["AvailableTransferSyntaxUID", "Rows"])  # fmt: skip
    assert len(images) == 2
    assert set(images.AvailableTransferSyntaxUID) == {pydicom.uid.ExplicitVRLittleEndian}
    assert set(images.Rows) == {128}
    assert sorted(images.InstanceNumber) == [1, 2]


def test_patient_root(loaded):
    patients = find(loaded.remote, "PATIENT", model="patient", PatientID="DOE")
    assert len(patients) == 1 and patients.NumberOfPatientRelatedStudies[0] == 2
    studies = find(loaded.remote, "STUDY", model="patient", PatientID="DOE")
    assert len(studies) == 2


def test_limit_cancels(loaded):
    assert len(find(loaded.remote, "STUDY", limit=1)) == 1


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_bad_identifiers_fail_with_a_comment(loaded):
    with pytest.raises(RemoteError, match="0xA900.*range"):
        find(loaded.remote, "STUDY", StudyDate="2024-01-01-2024-02-01")
    with pytest.raises(RemoteError, match="PATIENT"):
        find(loaded.remote, "PATIENT")  # the Study Root model has no PATIENT level


def test_identifier_translation():
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = ["1.2.3", "1.2.4"]
    ds.Modality = "CT"
    ds.SeriesDescription = ""
    query = build_query(ds, "study")
    assert query.filters == {"StudyInstanceUID": ["1.2.3", "1.2.4"], "Modality": "CT"}
    assert {k for _, k, _ in query.return_keys} == {"StudyInstanceUID", "Modality", "SeriesDescription",
                                                     "SeriesInstanceUID"}  # fmt: skip
    ds.QueryRetrieveLevel = "SERIES"
    with pytest.raises(QueryError, match="SeriesInstanceUID"):
        retrieve_filters(ds, "study")
    ds.SeriesInstanceUID = "1.2.3.4"
    assert retrieve_filters(ds, "study") == ("SERIES", {"StudyInstanceUID": ["1.2.3", "1.2.4"],
                                                        "SeriesInstanceUID": "1.2.3.4"})  # fmt: skip
