"""deidentify_dataset against PS3.15 Table E.1-1, on pydicom's test files and generated studies."""

from __future__ import annotations

import copy
import shutil
import warnings

import pydicom
import pytest
from anonymize_helpers import dciodvfy_errors, pydicom_storage_files, read, table_violations
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pacslab import examples
from pacslab.anonymize import (
    BurnedInAnnotationError,
    OptionValues,
    burned_in_reason,
    deidentify_dataset,
    parse_options,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

SECRET = "test-secret"
ALL_OPTIONS = frozenset(OptionValues) - {OptionValues.RETAIN_LONGITUDINAL_FULL_DATES}


def deid(ds: Dataset, **kwargs) -> Dataset:
    kwargs.setdefault("secret", SECRET)
    kwargs.setdefault("allow_burned_in", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deidentify_dataset(ds, **kwargs)


@pytest.fixture(scope="module")
def demo() -> list[Dataset]:
    return [ds for study in examples.demo_studies(seed=3) for ds in study]


def test_there_are_test_files():
    assert len(pydicom_storage_files()) > 50


@pytest.mark.parametrize("path", pydicom_storage_files(), ids=lambda p: p.name)
def test_pydicom_files_follow_the_table(path):
    original = read(path)
    result = deid(original)
    assert table_violations(original, result) == []
    assert result.PatientIdentityRemoved == "YES"
    assert result.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    if "PixelData" in original:
        assert result.PixelData == original.PixelData


@pytest.mark.parametrize(
    "options", [frozenset(), ALL_OPTIONS, frozenset({OptionValues.RETAIN_LONGITUDINAL_FULL_DATES})]
)
def test_generated_studies_follow_the_table(demo, options):
    for original in demo:
        result = deid(original, options=options)
        assert table_violations(original, result, options) == [], original.SOPInstanceUID
        assert result.PixelData == original.PixelData
        assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
        assert {i.CodeValue for i in result.DeidentificationMethodCodeSequence} == {"113100"} | {
            o.code_value for o in options
        }


def test_the_original_is_left_alone(demo):
    original = demo[0]
    before = original.to_json_dict()
    deid(original)
    assert original.to_json_dict() == before


def test_same_input_same_output_and_projects_differ(demo):
    first, again = deid(demo[0]), deid(demo[0])
    other = deid(demo[0], project="other")
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID", "PatientID",
                    "PatientName"):  # fmt: skip
        assert first[keyword].value == again[keyword].value
        assert first[keyword].value != other[keyword].value
        assert first[keyword].value != demo[0][keyword].value
    # one series stays one series, one patient one patient
    series = {deid(ds).SeriesInstanceUID for ds in demo if ds.SeriesInstanceUID == demo[0].SeriesInstanceUID}
    assert len(series) == 1
    assert deid(demo[0], secret="another").PatientID != first.PatientID


def test_referenced_uids_inside_sequences_are_mapped_consistently():
    ds = Dataset()
    ds.PatientID, ds.SOPInstanceUID = "P1", "1.2.3.4"
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3.5"
    ds.ReferencedImageSequence = Sequence([ref])
    other = Dataset()
    other.PatientID, other.SOPInstanceUID = "P1", "1.2.3.5"
    out, out_other = deid(ds), deid(other)
    item = out.ReferencedImageSequence[0]
    assert item.ReferencedSOPInstanceUID == out_other.SOPInstanceUID
    assert item.ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"  # standard UIDs are kept


def test_private_curves_and_overlays_are_removed():
    ds = Dataset()
    ds.PatientID = "P1"
    block = ds.private_block(0x0009, "ACME", create=True)
    block.add_new(0x01, "LO", "secret")
    ds.add_new(0x60000010, "US", 4)
    ds.add_new(0x60003000, "OW", b"\x00" * 2)
    ds.add_new(0x50000005, "US", 1)
    out = deid(ds)
    assert not [e for e in out if e.tag.group in (0x0009, 0x6000, 0x5000)]
    kept = deid(ds, options=["clean-graphics", "retain-safe-private"])
    assert 0x60003000 in kept and 0x00090010 not in kept  # nothing declares the ACME block safe


def _with_private_blocks() -> Dataset:
    ds = Dataset()
    ds.PatientName, ds.PatientID = "Doe^Jane", "P1"
    acme = ds.private_block(0x0019, "ACME 1.1", create=True)
    acme.add_new(0x10, "DS", "2.5")  # declared non-identifying below
    acme.add_new(0x11, "LO", "Doe^Jane")  # not declared: identifying
    ds.private_block(0x0029, "VENDOR X", create=True).add_new(0x01, "LO", "site 7")
    ds.private_block(0x0031, "SAFE CO", create=True).add_new(0x02, "SQ", Sequence([Dataset()]))
    mixed, whole = Dataset(), Dataset()
    mixed.PrivateGroupReference, mixed.PrivateCreatorReference = 0x0019, "ACME 1.1"
    mixed.BlockIdentifyingInformationStatus, mixed.NonidentifyingPrivateElements = "MIXED", [0x10]
    whole.PrivateGroupReference, whole.PrivateCreatorReference = 0x0031, "SAFE CO"
    whole.BlockIdentifyingInformationStatus = "SAFE"
    ds.PrivateDataElementCharacteristicsSequence = Sequence([mixed, whole])
    return ds


def test_retain_safe_private_keeps_what_the_instance_declares_safe():
    ds = _with_private_blocks()
    plain = deid(ds)
    assert not [e for e in plain if e.tag.is_private]
    out = deid(ds, options=["retain-safe-private"])
    kept = {int(e.tag): e.value for e in out if e.tag.is_private}
    assert kept[0x00190010] == "ACME 1.1" and kept[0x00191010] == "2.5"
    assert 0x00191011 not in kept  # MIXED: only the listed element
    assert 0x00290010 not in kept and 0x00291001 not in kept  # undeclared block and its creator go
    assert kept[0x00310010] == "SAFE CO" and 0x00311002 in kept  # SAFE: the whole block
    assert "Doe" not in str(out)


def test_retain_safe_private_takes_configured_blocks_and_elements():
    ds = _with_private_blocks()
    out = deid(ds, options=["retain-safe-private"], safe_private=["VENDOR X|0029|01", ("ACME 1.1", 0x0019, 0x11)])
    kept = {int(e.tag) for e in out if e.tag.is_private}
    assert {0x00290010, 0x00291001, 0x00191011} <= kept
    from pacslab import config

    with config.set({"anonymize.safe-private": ["VENDOR X|0029"]}):
        assert 0x00291001 in deid(ds, options=["retain-safe-private"])
    for bad in ["VENDOR X", "VENDOR X|0028|01", "|0029", "VENDOR X|0029|1FF"]:
        with pytest.raises(ValueError, match="safe-private"):
            deid(ds, options=["retain-safe-private"], safe_private=[bad])


def test_modified_dates_shift_per_patient_by_whole_days():
    def make(pid: str, date: str) -> Dataset:
        ds = Dataset()
        ds.PatientID, ds.StudyDate, ds.StudyTime, ds.AcquisitionDateTime = pid, date, "101010", date + "101010.5"
        return ds

    a1, a2 = (
        deid(make("A", "20240110"), options=["retain-longitudinal-modified-dates"]),
        deid(make("A", "20240120"), options=["retain-longitudinal-modified-dates"]),
    )
    b = deid(make("B", "20240110"), options=["retain-longitudinal-modified-dates"])
    assert a1.StudyDate != "20240110" and len(a1.StudyDate) == 8
    assert int(a2.StudyDate) - int(a1.StudyDate) == 10  # same month: intervals survive
    assert a1.StudyTime == "101010"
    assert a1.AcquisitionDateTime == a1.StudyDate + "101010.5"
    assert a1.LongitudinalTemporalInformationModified == "MODIFIED"
    assert (b.StudyDate != a1.StudyDate) or (b.PatientID != a1.PatientID)
    full = deid(make("A", "20240110"), options=["retain-longitudinal-full-dates"])
    assert full.StudyDate == "20240110" and full.LongitudinalTemporalInformationModified == "UNMODIFIED"
    basic = deid(make("A", "20240110"))
    assert basic.StudyDate == "" and basic.LongitudinalTemporalInformationModified == "REMOVED"


def test_clean_descriptors_removes_identifiers_from_text():
    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.StudyDescription = "Doe^Jane", "12345", "CT chest for DOE jane 12345"
    out = deid(ds, options=["clean-descriptors"])
    assert out.StudyDescription == "CT chest for"
    assert "StudyDescription" not in deid(ds)


def test_options_are_parsed_and_checked():
    assert parse_options(["retain-uids", "RETAIN_DEVICE_IDENTITY", OptionValues.CLEAN_GRAPHICS]) == {
        OptionValues.RETAIN_UIDS,
        OptionValues.RETAIN_DEVICE_IDENTITY,
        OptionValues.CLEAN_GRAPHICS,
    }
    with pytest.raises(ValueError, match="retain-uids"):
        parse_options(["retain-everything"])
    with pytest.raises(ValueError, match="one of"):
        parse_options(["retain-longitudinal-full-dates", "retain-longitudinal-modified-dates"])
    ds = Dataset()
    ds.StudyInstanceUID = "1.2.3"
    assert deid(ds, options=["retain-uids"]).StudyInstanceUID == "1.2.3"


def test_burned_in_rule(demo):
    ct = copy.deepcopy(demo[0])
    assert burned_in_reason(ct) is None
    ct.BurnedInAnnotation = "YES"
    assert "YES" in burned_in_reason(ct)
    with pytest.raises(BurnedInAnnotationError, match="held back"):
        deidentify_dataset(ct, secret=SECRET)
    us = copy.deepcopy(demo[0])
    us.Modality = "US"
    del us.BurnedInAnnotation
    assert "absent" in burned_in_reason(us)
    us.BurnedInAnnotation = "NO"
    assert burned_in_reason(us) is None
    no_pixels = Dataset()
    no_pixels.Modality, no_pixels.BurnedInAnnotation = "SR", "YES"
    assert burned_in_reason(no_pixels) is None
    assert deid(ct).PixelData == ct.PixelData  # allowed explicitly


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian dicom3tools) is not installed")
def test_dciodvfy_finds_no_new_errors(demo, tmp_path):
    sample, seen = [], set()
    for ds in demo:
        key = (ds.Modality, ds.SOPClassUID)
        if key not in seen:
            seen.add(key)
            sample.append(ds)
    names = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtdose.dcm", "test-SR.dcm")
    sample += [read(p) for p in pydicom_storage_files() if p.name in names]
    assert len(sample) >= 8
    for i, original in enumerate(sample):
        for options in (frozenset(), ALL_OPTIONS):
            before, after = tmp_path / f"{i}-before.dcm", tmp_path / f"{i}-after.dcm"
            original.save_as(before, enforce_file_format=True)
            deid(original, options=options).save_as(after, enforce_file_format=True)
            new = dciodvfy_errors(after) - dciodvfy_errors(before)
            assert not new, (original.get("SOPClassUID"), sorted(new))


def test_written_files_read_back(demo, tmp_path):
    out = deid(demo[0])
    out.save_as(tmp_path / "x.dcm", enforce_file_format=True)
    back = pydicom.dcmread(tmp_path / "x.dcm")
    assert back.SOPInstanceUID == out.SOPInstanceUID
    assert back.pixel_array.shape == demo[0].pixel_array.shape


def test_the_table_check_is_not_vacuous(demo):
    """The checker itself: an untouched dataset violates the table."""
    problems = table_violations(demo[0], demo[0])
    assert any("PatientName" in p for p in problems) and any("StudyInstanceUID" in p for p in problems)


def _text_values(ds: Dataset) -> list[str]:
    found = []
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                found += _text_values(item)
        elif elem.keyword == "TextValue":
            found.append(str(elem.value))
    return found


def test_structured_report_text_is_replaced_unless_cleaned():
    original = read(next(p for p in pydicom_storage_files() if p.name == "test-SR.dcm"))
    assert _text_values(original)
    assert set(_text_values(deid(original))) == {"ANONYMIZED"}
    cleaned = deid(original, options=["clean-structured-content"])
    assert _text_values(cleaned) == _text_values(original)  # no identifier of this patient occurs in them


def test_uids_read_as_un_are_mapped():
    ds = Dataset()
    ds.add_new(0x0020000D, "UN", b"1.2.3.4\x00")
    out = deid(ds)
    value = out[0x0020000D].value
    text = value.decode() if isinstance(value, bytes) else value
    assert text.rstrip("\x00").startswith("2.25.") and len(text) % 2 == 0
