from __future__ import annotations

import pytest

from pacslab.catalog import MatchKind, parse_condition
from pacslab.errors import CatalogError


@pytest.mark.parametrize(
    ("keyword", "value", "kind"),
    [
        ("PatientName", "DOE^JOHN", MatchKind.SINGLE),
        ("PatientName", "doe*", MatchKind.WILDCARD),
        ("PatientID", "12?4", MatchKind.WILDCARD),
        ("StudyDate", "20240101-20240131", MatchKind.RANGE),
        ("StudyDate", "20240101-", MatchKind.RANGE),
        ("StudyDate", "-20240131", MatchKind.RANGE),
        ("StudyTime", "0800-1200", MatchKind.RANGE),
        ("StudyInstanceUID", "1.2.3\\1.2.4", MatchKind.LIST),
        ("StudyInstanceUID", ["1.2.3", "1.2.4"], MatchKind.LIST),
        ("Modality", "", MatchKind.UNIVERSAL),
        ("Modality", "*", MatchKind.UNIVERSAL),
        ("SliceThickness", 2.5, MatchKind.SINGLE),
    ],
)
def test_parse_condition_kinds(keyword, value, kind):
    assert parse_condition(keyword, value).kind is kind


@pytest.mark.parametrize(
    ("keyword", "pattern", "value", "expected"),
    [
        ("PatientName", "doe*", "DOE^JOHN", True),
        ("PatientName", "DOE^J?HN", "doe^john", True),
        ("PatientName", "smith*", "DOE^JOHN", False),
        ("PatientID", "ab*", "AB12", False),  # only names ignore case
        ("PatientID", "AB*", "AB12", True),
        ("StudyDate", "20240101-20240131", "20240115", True),
        ("StudyDate", "20240101-20240131", "20240201", False),
        ("StudyDate", "-20240131", "20231231", True),
        ("StudyTime", "0800-1200", "120000.5", True),
        ("StudyTime", "0800-1200", "120100", False),
        ("StudyInstanceUID", "1.2.3\\1.2.4", "1.2.4", True),
        ("StudyInstanceUID", "1.2.3\\1.2.4", "1.2.5", False),
        ("SliceThickness", "2.5", 2.5, True),
        ("SliceThickness", 2.5, 3.0, False),
        ("StudyDescription", "[abc]*", "[abc] chest", True),
    ],
)
def test_python_matching(keyword, pattern, value, expected):
    assert parse_condition(keyword, pattern).matches([value]) is expected


def test_multi_valued_attribute_matches_any_value():
    assert parse_condition("ImageType", "LOCALIZER").matches(["ORIGINAL", "PRIMARY", "LOCALIZER"])


def test_person_name_json_value():
    assert parse_condition("PatientName", "doe*").matches([{"Alphabetic": "Doe^Jane"}])


def test_sql_wildcards_escape_like_metacharacters():
    sql, params = parse_condition("PatientName", "100%_*").to_sql("c")
    assert "LIKE" in sql and params == ["100\\%\\_%"]


def test_unknown_keyword_is_a_clear_error():
    with pytest.raises(CatalogError, match="not a DICOM keyword"):
        parse_condition("PatientNme", "x")


def test_bad_range_names_the_keyword():
    with pytest.raises(CatalogError, match="StudyDate"):
        parse_condition("StudyDate", "yesterday-today")
