"""Queries over a generated archive, checked against the generated datasets themselves."""

from __future__ import annotations

from collections import defaultdict

import pytest

import pacslab
from pacslab import examples
from pacslab.errors import CatalogError


@pytest.fixture(scope="module")
def demo(tmp_path_factory, catalog_url):
    folder = tmp_path_factory.mktemp("demo-input")
    studies = examples.demo_studies(seed=0)
    for series in studies:
        examples.write_series(series, folder / series[0].SeriesInstanceUID)
    archive = pacslab.open_archive(
        tmp_path_factory.mktemp("demo") / "archive", create=True, catalog=catalog_url
    )
    report = archive.ingest(folder, progress=False)
    assert report.ok
    datasets = [ds for series in studies for ds in series]
    yield archive, datasets
    archive.close()


def _study_uids(datasets, predicate):
    return {ds.StudyInstanceUID for ds in datasets if predicate(ds)}


def test_levels_count_what_was_generated(demo):
    archive, datasets = demo
    assert len(archive.instances()) == len(datasets)
    assert len(archive.series()) == len({d.SeriesInstanceUID for d in datasets})
    assert len(archive.studies()) == len({d.StudyInstanceUID for d in datasets})
    assert len(archive.patients()) == len({d.PatientID for d in datasets})
    studies = archive.studies()
    counts = defaultdict(int)
    for d in datasets:
        counts[d.StudyInstanceUID] += 1
    assert dict(zip(studies.StudyInstanceUID, studies.NumberOfStudyRelatedInstances, strict=True)) == counts


def test_patient_name_wildcard_ignores_case(demo):
    archive, datasets = demo
    name = str(datasets[0].PatientName)
    pattern = name[:3].lower() + "*"
    expected = _study_uids(datasets, lambda d: str(d.PatientName).lower().startswith(name[:3].lower()))
    assert set(archive.studies(PatientName=pattern).StudyInstanceUID) == expected
    assert set(archive.studies(PatientName=name.upper()).StudyInstanceUID) == _study_uids(
        datasets, lambda d: str(d.PatientName).upper() == name.upper()
    )


def test_date_range(demo):
    archive, datasets = demo
    dates = sorted({d.StudyDate for d in datasets})
    low = dates[0]
    expected = _study_uids(datasets, lambda d: d.StudyDate <= low)
    assert set(archive.studies(StudyDate=f"-{low}").StudyInstanceUID) == expected
    assert set(archive.studies(StudyDate=f"{dates[-1]}-").StudyInstanceUID) == _study_uids(
        datasets, lambda d: d.StudyDate >= dates[-1]
    )
    assert archive.studies(StudyDate="19000101-19000102").empty


def test_uid_list(demo):
    archive, datasets = demo
    uids = sorted({d.SeriesInstanceUID for d in datasets})[:2]
    assert set(archive.series(SeriesInstanceUID=uids).SeriesInstanceUID) == set(uids)
    assert set(archive.series(SeriesInstanceUID="\\".join(uids)).SeriesInstanceUID) == set(uids)


def test_lower_level_filters_select_containing_studies(demo):
    archive, datasets = demo
    expected = _study_uids(datasets, lambda d: d.Modality == "MR")
    assert set(archive.studies(Modality="MR").StudyInstanceUID) == expected
    assert set(archive.studies(ModalitiesInStudy="MR").StudyInstanceUID) == expected


def test_upper_level_filters_on_series(demo):
    archive, datasets = demo
    pid = datasets[0].PatientID
    expected = {d.SeriesInstanceUID for d in datasets if d.PatientID == pid}
    assert set(archive.series(PatientID=pid).SeriesInstanceUID) == expected


def test_any_header_attribute(demo):
    archive, datasets = demo
    cts = [d for d in datasets if "SliceThickness" in d and d.Modality == "CT" and d.get("SliceThickness") not in (None, "")]
    thickness = float(cts[0].SliceThickness)
    expected = {d.SeriesInstanceUID for d in datasets if "SliceThickness" in d and d.SliceThickness not in (None, "")
                and float(d.SliceThickness) == thickness}  # fmt: skip
    got = archive.series(SliceThickness=thickness)
    assert set(got.SeriesInstanceUID) == expected
    assert set(archive.series(SliceThickness=str(thickness)).SeriesInstanceUID) == expected


def test_fields_return_header_values(demo):
    archive, datasets = demo
    by_series = {d.SeriesInstanceUID: d for d in datasets}
    frame = archive.series(Modality="CT", fields=["Manufacturer", "PatientPosition"])
    for row in frame.itertuples():
        ds = by_series[row.SeriesInstanceUID]
        assert row.Manufacturer == ds.get("Manufacturer")


def test_paging(demo):
    archive, _ = demo
    everything = list(archive.instances().SOPInstanceUID)
    pages = [list(archive.instances(limit=10, offset=o).SOPInstanceUID) for o in range(0, len(everything), 10)]
    assert [uid for page in pages for uid in page] == everything


def test_unknown_keyword_names_it(demo):
    archive, _ = demo
    with pytest.raises(CatalogError, match="Modalty"):
        archive.series(Modalty="CT")


def test_header_filter_on_sequence_free_attribute_with_wildcard(demo):
    archive, datasets = demo
    manufacturer = next(d.Manufacturer for d in datasets if d.get("Manufacturer"))
    expected = {d.SeriesInstanceUID for d in datasets if d.get("Manufacturer") == manufacturer}
    got = archive.series(Manufacturer=manufacturer[:2] + "*")
    assert expected <= set(got.SeriesInstanceUID)


def test_cli_ls_json(demo, capsys):
    from pacslab.cli.main import main

    archive, datasets = demo
    assert main(["ls", archive.root, "series", "--Modality", "CT", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert {r["SeriesInstanceUID"] for r in rows} == {d.SeriesInstanceUID for d in datasets if d.Modality == "CT"}
    assert main(["info", archive.root, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info[0]["instances"] == len(datasets)


@pytest.mark.parametrize(
    ("level", "filters", "fields"),
    [
        ("studies", {}, ()),
        ("series", {"Modality": "CT"}, ("SliceThickness", "ImageType")),
        ("instances", {"Modality": "MR"}, ("EchoTime",)),
    ],
)
def test_query_records_are_the_query_rows(demo, level, filters, fields):
    """Servers read plain records; the DataFrame is built from the same rows, header fields decoded alike."""
    import math

    archive, _ = demo
    records = archive.catalog.query_records(level, filters, fields=fields)
    frame = archive.catalog.query(level, filters, fields=fields)
    assert list(frame.columns) == archive.catalog.query_columns(level, fields)
    assert len(records) == len(frame) > 0
    for record, row in zip(records, frame.to_dict("records"), strict=True):
        assert list(record) == list(frame.columns)
        for key, value in record.items():
            other = row[key]
            if value is None:
                assert other is None or (isinstance(other, float) and math.isnan(other)), key
            else:
                assert value == other, key
    if "ImageType" in fields:  # header values come decoded from DICOM JSON, not as JSON text
        assert all(isinstance(r["ImageType"], list) and r["ImageType"][0] in ("ORIGINAL", "DERIVED") for r in records)


def test_query_records_reject_an_unknown_level(demo):
    archive, _ = demo
    with pytest.raises(CatalogError, match="Unknown level"):
        archive.catalog.query_records("frames", {})
