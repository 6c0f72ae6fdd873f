"""DICOM export to a folder or a zip: byte-identical originals, de-identified copies, cohorts, refusals, audit."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from export_helpers import Filled, export_rows, read

from pacslab.anonymize import reidentify
from pacslab.export import ExportError
from pacslab.export._paths import check_uid, member_name, target_path


def _by_name(paths: list[str]) -> dict[str, bytes]:
    return {os.path.basename(p): Path(p).read_bytes() for p in paths}


def test_folder_export_of_a_study_is_byte_identical(filled: Filled, tmp_path: Path) -> None:
    study = str(filled.ct[0].StudyInstanceUID)
    report = filled.archive.export(study, tmp_path / "out")
    expected = {str(d.SOPInstanceUID) for d in filled.ct + filled.oblique}
    assert report.ok and len(report) == len(expected)
    for path in report:
        relative = Path(path).relative_to(tmp_path / "out")
        ds = read(Path(path).read_bytes())
        assert relative.parts == (study, str(ds.SeriesInstanceUID), f"{ds.SOPInstanceUID}.dcm")
        assert Path(path).read_bytes() == filled.files[str(ds.SOPInstanceUID)]
    assert {Path(p).name.removesuffix(".dcm") for p in report} == expected
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(".tmp")]


def test_zip_export_is_byte_identical_and_complete(filled: Filled, tmp_path: Path) -> None:
    target = tmp_path / "ct.zip"
    report = filled.archive.export([str(d.SeriesInstanceUID) for d in (filled.ct[0], filled.oblique[0])], target)
    assert report.format == "zip" and report.ok
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
        assert sorted(names) == sorted(report.written) and len(names) == len(filled.ct) + len(filled.oblique)
        for name in names:
            study, series, leaf = name.split("/")
            sop = leaf.removesuffix(".dcm")
            assert zf.read(name) == filled.files[sop]
            assert (study, series) == (str(read(filled.files[sop]).StudyInstanceUID),
                                       str(read(filled.files[sop]).SeriesInstanceUID))  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["ct.zip"]  # no temporary file left beside it
    with pytest.raises(ExportError, match="already exists"):
        filled.archive.export(str(filled.ct[0].SeriesInstanceUID), target)


def test_cohort_dataframe_and_overlapping_uids(filled: Filled, tmp_path: Path) -> None:
    cohort = filled.archive.series(Modality="MR")
    assert list(cohort["SeriesInstanceUID"]) == [str(filled.mr[0].SeriesInstanceUID)]
    report = filled.archive.export(cohort, tmp_path / "mr", format="dicom")
    assert {Path(p).name for p in report} == {f"{d.SOPInstanceUID}.dcm" for d in filled.mr}
    study, series = str(filled.ct[0].StudyInstanceUID), str(filled.ct[0].SeriesInstanceUID)
    both = filled.archive.export([study, series, str(filled.ct[0].SOPInstanceUID)], tmp_path / "both")
    assert len(both) == len(filled.ct) + len(filled.oblique)  # each instance once


def test_deidentified_folder_has_no_original_identifiers(filled: Filled, tmp_path: Path) -> None:
    series = str(filled.ct[0].SeriesInstanceUID)
    report = filled.archive.export(series, tmp_path / "deid", deidentify="trial-1")
    assert report.deidentified and report.project == "trial-1" and len(report) == len(filled.ct)
    identifiers = filled.identifiers(filled.ct)
    for path in report:
        data = Path(path).read_bytes()
        for text in identifiers:
            assert text.encode() not in data, f"{text!r} left in {path}"
        ds = read(data)
        assert ds.PatientIdentityRemoved == "YES"
        relative = Path(path).relative_to(tmp_path / "deid").parts
        assert relative == (ds.StudyInstanceUID, ds.SeriesInstanceUID, f"{ds.SOPInstanceUID}.dcm")
        for part in relative:
            assert part.startswith("2.25.")
    new_series = Path(report.written[0]).parent.name
    back = reidentify(filled.archive, new_series, role="admin", project="trial-1")
    assert [r["original"] for r in back] == [series]


def test_deidentified_zip_and_options(filled: Filled, tmp_path: Path) -> None:
    report = filled.archive.export(str(filled.mr[0].SeriesInstanceUID), tmp_path / "mr.zip", deidentify=True,
                                   options=["retain-longitudinal-modified-dates"])  # fmt: skip
    assert report.project == "default" and report.options
    identifiers = filled.identifiers(filled.mr)
    with zipfile.ZipFile(tmp_path / "mr.zip") as zf:
        assert len(zf.namelist()) == len(filled.mr)
        for name in zf.namelist():
            data = zf.read(name)
            assert not any(text.encode() in data for text in identifiers)
            assert not any(text in name for text in identifiers)
            assert read(data).LongitudinalTemporalInformationModified == "MODIFIED"


def test_burned_in_images_are_held_back_unless_allowed(filled: Filled, tmp_path: Path) -> None:
    sc = filled.archive.series(Modality="OT")["SeriesInstanceUID"].iloc[0]
    report = filled.archive.export(sc, tmp_path / "held", deidentify=True)
    assert not report.ok and len(report) == 0 and "BurnedInAnnotation" in report.held_back[0][1]
    assert not list((tmp_path / "held").rglob("*.dcm"))  # the original is never written instead
    assert export_rows(filled.archive, tmp_path / "held")["outcome"].tolist() == ["failure"]
    allowed = filled.archive.export(sc, tmp_path / "allowed", deidentify=True, allow_burned_in=True)
    assert allowed.ok and len(allowed) == 1


def test_every_export_is_audited(filled: Filled, tmp_path: Path) -> None:
    series = str(filled.ct[0].SeriesInstanceUID)
    filled.archive.export(series, tmp_path / "a")
    filled.archive.export(series, tmp_path / "b.zip", deidentify="audit")
    plain = export_rows(filled.archive, tmp_path / "a")
    assert len(plain) == 1
    row = plain.iloc[0]
    assert (row["service"], row["count"], row["outcome"]) == ("files", len(filled.ct), "success")
    assert json.loads(row["uids"]) == [series] and json.loads(row["detail"])["deidentified"] is False
    zipped = export_rows(filled.archive, tmp_path / "b.zip").iloc[0]
    assert zipped["service"] == "zip" and json.loads(zipped["detail"])["project"] == "audit"


def test_failed_export_is_audited_as_failure(filled: Filled, tmp_path: Path) -> None:
    # a folder on the way that is a link leading out of the destination
    study, series = str(filled.ct[0].StudyInstanceUID), str(filled.ct[0].SeriesInstanceUID)
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / study)
    with pytest.raises(ExportError, match="link"):
        filled.archive.export(series, tmp_path / "out")
    assert not list((tmp_path / "elsewhere").iterdir())
    assert export_rows(filled.archive, tmp_path / "out")["outcome"].tolist() == ["failure"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "dicom-sr"}, "Unknown export format"),
        ({"options": ["retain-uids"]}, "without deidentify"),
        ({"deidentify": True, "options": ["keep-everything"]}, "Unknown de-identification option"),
        ({"deidentify": " "}, "must not be empty"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(filled: Filled, tmp_path: Path, kwargs, message) -> None:
    with pytest.raises(ExportError, match=message):
        filled.archive.export(str(filled.ct[0].SeriesInstanceUID), tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_hostile_destinations_and_uids_are_refused(filled: Filled, tmp_path: Path) -> None:
    archive = filled.archive
    series = str(filled.ct[0].SeriesInstanceUID)
    with pytest.raises(ExportError, match="inside"):
        archive.export(series, Path(archive.root) / "originals" / "evil")
    with pytest.raises(ExportError, match="not the UID"):
        archive.export("../../etc/passwd", tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="is a file"):
        archive.export(series, tmp_path / "file")
    with pytest.raises(ExportError, match="does not exist"):
        archive.export(series, tmp_path / "missing" / "out.zip")
    with pytest.raises(ExportError, match="local"):
        archive.export(series, "s3://bucket/out")
    with pytest.raises(ExportError, match="Nothing to export"):
        archive.export([], tmp_path / "out")


@pytest.mark.parametrize("name", ["..", "../1.2", "1.2/3", "1.2.3.", "01.2", "1.2.x", "", "1." * 40 + "1", "/1.2"])
def test_only_valid_uids_become_names(name: str, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not a valid DICOM UID"):
        check_uid(name)
    with pytest.raises(ExportError):
        member_name("1.2.3", name, suffix=".dcm")


def test_target_path_stays_below_the_destination(tmp_path: Path) -> None:
    assert target_path(str(tmp_path), member_name("1.2", "3.4", suffix=".dcm")) == str(tmp_path / "1.2" / "3.4.dcm")
    assert (tmp_path / "1.2").is_dir()
