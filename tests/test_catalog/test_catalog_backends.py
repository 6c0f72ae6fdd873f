"""The PostgreSQL catalog answers every query as the SQLite catalog does, on the same archive content."""

from __future__ import annotations

import copy
import shutil

import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

import pacslab
from pacslab import examples
from pacslab.errors import CatalogError

# Columns that hold the time of ingest: they differ between the two ingests by construction.
_TIMES = ("received_at", "created_at", "updated_at")


def _odd_instances(folder):
    """Instances with what trips up a translation: quotes, LIKE metacharacters, brackets, missing values, case."""
    base = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    study = generate_uid()
    variants = [
        {"PatientName": "O'Brien^100%_Sure", "StudyDescription": "Chest CT", "SeriesDescription": "Axial [1]"},
        {
            "PatientName": "o'brien^other",
            "StudyDescription": "CHEST ct",
            "SeriesDescription": "axial 1",
            "Modality": "MR",
            "OperatorsName": "Smith^Jo",
        },
        {"PatientName": "Back\\slash", "StudyDescription": None, "SeriesDescription": None, "StudyDate": None},
    ]
    for n, changes in enumerate(variants):
        ds = copy.deepcopy(base)
        ds.StudyInstanceUID = study if n < 2 else generate_uid()
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PatientID = f"ODD{n}"
        for keyword, value in changes.items():
            if value is None:
                delattr(ds, keyword) if keyword in ds else None
            else:
                setattr(ds, keyword, value)
        if n == 2:
            del ds.InstanceNumber
        ds.save_as(folder / f"odd{n}.dcm", enforce_file_format=True)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres_server):
    """The same files ingested into a SQLite-backed and a PostgreSQL-backed archive."""
    folder = tmp_path_factory.mktemp("agree-input")
    for series in examples.demo_studies(seed=1):
        examples.write_series(series, folder / series[0].SeriesInstanceUID)
    _odd_instances(folder)
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "mr.dcm")
    url = postgres_server.create_database("agree", template="pacslab_template")
    archives = [
        pacslab.open_archive(tmp_path_factory.mktemp("sqlite") / "archive", create=True),
        pacslab.open_archive(tmp_path_factory.mktemp("postgres") / "archive", create=True, catalog=url),
    ]
    for archive in archives:
        report = archive.ingest(folder, progress=False, build_volumes=False)
        assert report.ok, report
    yield archives
    for archive in archives:
        archive.close()
    postgres_server.drop_database("agree")


QUERIES = [
    ("patients", {}, {}),
    ("studies", {}, {}),
    ("series", {}, {}),
    ("instances", {}, {}),
    ("patients", {"PatientSex": "F"}, {}),
    ("studies", {"PatientName": "o'b*"}, {}),
    ("studies", {"PatientName": "O'BRIEN^100%_SURE"}, {}),
    ("studies", {"PatientName": "*100%_*"}, {}),
    ("studies", {"PatientName": "*0?_*"}, {}),
    ("studies", {"PatientName": "Back\\slash"}, {}),
    ("studies", {"StudyDescription": "chest ct"}, {}),
    ("studies", {"StudyDescription": "Chest*"}, {}),
    ("series", {"SeriesDescription": "Axial [1]"}, {}),
    ("series", {"SeriesDescription": "Axial [*"}, {}),
    ("series", {"SeriesDescription": "AXIAL 1"}, {}),
    ("studies", {"StudyDate": "-20040101"}, {}),
    ("studies", {"StudyDate": "20040101-"}, {}),
    ("studies", {"StudyTime": "000000-120000"}, {}),
    ("series", {"Modality": ["CT", "MR"]}, {}),
    ("series", {"Modality": "CT\\MR"}, {}),
    ("studies", {"ModalitiesInStudy": "MR"}, {}),
    ("studies", {"Modality": "CT", "PatientName": "*"}, {}),
    ("series", {"SeriesNumber": 1}, {}),
    ("series", {"SeriesNumber": "1\\2"}, {}),
    ("series", {"SeriesNumber": "abc"}, {}),
    ("instances", {"InstanceNumber": ["2", "x", "3.0"]}, {}),
    ("series", {"volume_state": "none"}, {}),
    ("instances", {"InstanceNumber": "1"}, {}),
    ("instances", {"SliceThickness": 5}, {}),
    ("instances", {"SliceThickness": "5.0"}, {}),
    ("series", {"SliceThickness": "1\\5"}, {}),
    ("instances", {"ImageType": "ORIGINAL"}, {}),
    ("instances", {"ImageType": "*AXIAL*"}, {}),
    ("series", {"Manufacturer": "ge*"}, {}),
    ("series", {"Manufacturer": "GE*"}, {}),
    ("studies", {"OperatorsName": "*"}, {}),
    ("studies", {"ReferringPhysicianName": "*a*"}, {}),
    ("instances", {"ContentDate": "20000101-"}, {}),
    ("instances", {"ContentDate": "-20250604"}, {}),
    ("instances", {"ContentTime": "-135554"}, {}),
    ("instances", {"ContentTime": "135554.1-135554.3"}, {}),
    ("studies", {"StudyTime": "-135348"}, {}),
    ("series", {"OperatorsName": "SMITH^JO"}, {}),
    ("series", {"OperatorsName": "smi*"}, {}),
    ("studies", {"ReferringPhysicianName": "sender^kim^^dr"}, {}),
    ("studies", {}, {"fields": ["Manufacturer", "SliceThickness", "ImageType", "PatientName", "ScanOptions"]}),
    ("instances", {"Modality": "MR"}, {"fields": ["EchoTime", "PixelSpacing", "ImagePositionPatient"]}),
    ("instances", {}, {"limit": 7, "offset": 3}),
    ("instances", {}, {"offset": 5}),
    ("studies", {}, {"order_by": "StudyDate DESC, StudyInstanceUID"}),
    ("instances", {}, {"order_by": "InstanceNumber, SOPInstanceUID"}),
]


def _frame(archive, level, filters, options):
    frame = archive.catalog.query(level, dict(filters), **options)
    return frame.drop(columns=[c for c in _TIMES if c in frame]).reset_index(drop=True)


@pytest.mark.parametrize(("level", "filters", "options"), QUERIES, ids=[f"q{i}" for i in range(len(QUERIES))])
def test_same_results(pair, level, filters, options):
    sqlite, postgres = pair
    expected = _frame(sqlite, level, filters, options)
    pd.testing.assert_frame_equal(_frame(postgres, level, filters, options), expected)
    assert postgres.catalog.count(level, dict(filters)) == sqlite.catalog.count(level, dict(filters))


def test_queries_are_not_trivial(pair):
    """The comparisons above compare something: most queries find rows, a few find none."""
    sqlite, _ = pair
    sizes = [len(_frame(sqlite, level, f, o)) for level, f, o in QUERIES]
    assert sum(1 for n in sizes if n > 0) >= len(QUERIES) - 8
    assert len(_frame(sqlite, "studies", {"StudyDescription": "chest ct"}, {})) == 1
    assert len(_frame(sqlite, "series", {"SeriesDescription": "Axial [*"}, {})) == 1
    assert "CT\\MR" in set(_frame(sqlite, "studies", {}, {}).ModalitiesInStudy)
    assert len(_frame(sqlite, "series", {"OperatorsName": "smi*"}, {})) == 1


def test_records_and_bookkeeping_agree(pair):
    sqlite, postgres = pair
    assert postgres.catalog.counts() == sqlite.catalog.counts()
    assert postgres.catalog.size_stats() == sqlite.catalog.size_stats()
    assert postgres.catalog.count_consistency() == sqlite.catalog.count_consistency() == []
    uid = sqlite.instances().SOPInstanceUID[0]
    a, b = sqlite.catalog.instance(uid), postgres.catalog.instance(uid)
    assert set(a) == set(b)
    assert pydicom.Dataset.from_json(a["header"]) == pydicom.Dataset.from_json(b["header"])
    assert {k: v for k, v in a.items() if k not in ("header", *_TIMES)} == {
        k: v for k, v in b.items() if k not in ("header", *_TIMES)
    }
    assert sqlite.catalog.instance_keys() == postgres.catalog.instance_keys()
    assert sqlite.catalog.level_of(uid) == postgres.catalog.level_of(uid) == "instance"
    assert postgres.verify(rehash=False).ok


def test_same_errors(pair):
    for archive in pair:
        with pytest.raises(CatalogError, match="StudyDate"):
            archive.studies(StudyDate="yesterday-today")
        with pytest.raises(CatalogError, match="not the UID"):
            archive.catalog.level_of("1.2.3.4.5.6.7.8.9")


def test_audit_filters_agree(pair):
    for archive in pair:
        archive.catalog.audit("export", actor="alice (read)", uids=["1.2.3", "1.2.4"], count=2)
        archive.catalog.audit("query", actor="bob (admin)", outcome="denied", uids=["1.2.5"])
    cases = [
        ({"action": "export", "actor": "alice*"}, 1),
        ({"actor": "?ob *"}, 1),
        ({"uid": "1.2.4"}, 1),
        ({"uid": "1.2"}, 0),
        ({"outcome": "denied"}, 1),
        ({"since": "2000-01-01", "until": "2999-12-31"}, None),
        ({"until": "2000-01-01"}, 0),
        ({"limit": 1}, 1),
    ]
    for filters, n in cases:
        sqlite, postgres = (
            a.catalog.audit_log(**filters).drop(columns=["id", "time", "detail"], errors="ignore") for a in pair
        )
        pd.testing.assert_frame_equal(postgres, sqlite)
        if n is not None:
            assert len(sqlite) == n, filters
    assert pair[0].catalog.audit_log(limit=1).action.tolist() == ["query"]  # the newest one
    with pytest.raises(ValueError, match="since"):
        pair[1].catalog.audit_log(since="yesterday")
