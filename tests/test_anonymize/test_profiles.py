"""Table E.1-1 as shipped, its action codes and its options."""

from __future__ import annotations

import pytest
from pydicom.datadict import keyword_for_tag
from pydicom.sr.codedict import codes

from pacslab.anonymize import ActionValues, OptionValues, load_table
from pacslab.anonymize.profiles import BASIC_PROFILE_CODE, TABLE_PATH


def test_the_table_is_complete_and_states_its_provenance():
    table = load_table()
    assert len(table) == 656
    assert set(table.repeating) == {"50xx,xxxx", "60xx,3000", "60xx,4000"}
    assert "2026c" in table.edition and "2025" in table.edition
    assert TABLE_PATH.suffix == ".csv"


def test_rows_agree_with_the_data_dictionary():
    table = load_table()
    for tag, row in table.rows.items():
        if row.keyword:
            assert keyword_for_tag(tag) == row.keyword


@pytest.mark.parametrize(
    ("keyword", "basic"),
    [
        ("PatientName", "Z"),
        ("PatientID", "Z/D"),
        ("PatientBirthDate", "Z"),
        ("StudyInstanceUID", "U"),
        ("SOPInstanceUID", "U"),
        ("InstitutionName", "X/Z/D"),
        ("ReferencedImageSequence", "X/Z/U*"),
        ("AccessionNumber", "Z"),
        ("PatientAge", "X"),
        ("ContentSequence", "D"),
    ],
)
def test_known_rows(keyword, basic):
    from pydicom.datadict import tag_for_keyword

    row = load_table().rows[tag_for_keyword(keyword)]
    assert row.basic is ActionValues(basic)


def test_options_only_keep_or_clean():
    table = load_table()
    for row in [*table.rows.values(), *table.repeating.values(), table.private]:
        assert set(row.options.values()) <= {ActionValues.K, ActionValues.C}
    age = table.rows[0x00101010]
    assert age.action(frozenset({OptionValues.RETAIN_PATIENT_CHARACTERISTICS})) is ActionValues.K
    assert age.action(frozenset()) is ActionValues.X
    date = table.rows[0x00080020]  # StudyDate
    assert date.action(frozenset({OptionValues.RETAIN_LONGITUDINAL_MODIFIED_DATES})) is ActionValues.C
    assert date.action(frozenset({OptionValues.RETAIN_LONGITUDINAL_FULL_DATES})) is ActionValues.K


def test_option_codes_are_those_of_cid_7050():
    found = [getattr(codes.DCM, name) for name in dir(codes.DCM) if name[:1].isupper()]
    by_value = {code.value: code.meaning for code in found if hasattr(code, "meaning")}
    assert by_value[BASIC_PROFILE_CODE[0]] == BASIC_PROFILE_CODE[1]
    for option in OptionValues:
        assert by_value[option.code_value] == option.value


@pytest.mark.parametrize(
    "name",
    ["retain-uids", "RETAIN_UIDS", "Retain UIDs Option", "retain uids", OptionValues.RETAIN_UIDS],
)
def test_option_spellings(name):
    assert OptionValues(name) is OptionValues.RETAIN_UIDS


def test_action_removes():
    assert not ActionValues.K.removes and not ActionValues.C.removes
    assert all(a.removes for a in ActionValues if a not in (ActionValues.K, ActionValues.C))
