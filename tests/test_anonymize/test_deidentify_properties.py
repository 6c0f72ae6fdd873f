"""Property tests: de-identification removes every X/Z/D/U attribute it is given, and is idempotent in structure."""

from __future__ import annotations

import datetime as _dt
import warnings

import pytest
from anonymize_helpers import structure, table_violations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from pacslab.anonymize import OptionValues, deidentify_dataset, load_table

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom")

_TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ", min_size=1, max_size=16).map(str.strip).filter(bool)
_DATES = st.dates(min_value=_dt.date(1920, 1, 1), max_value=_dt.date(2030, 12, 31))
_VALUES = {
    "AE": _TEXT, "CS": _TEXT.map(lambda s: s.replace(" ", "_")), "SH": _TEXT, "LO": _TEXT, "ST": _TEXT, "LT": _TEXT,
    "UT": _TEXT, "UC": _TEXT, "PN": st.tuples(_TEXT, _TEXT).map("^".join),
    "DA": _DATES.map(lambda d: d.strftime("%Y%m%d")),
    "TM": st.times().map(lambda t: t.strftime("%H%M%S")),
    "DT": st.datetimes(min_value=_dt.datetime(1920, 1, 1)).map(lambda d: d.strftime("%Y%m%d%H%M%S")),
    "UI": st.lists(st.integers(1, 10**9), min_size=2, max_size=6).map(lambda p: "1.3.6." + ".".join(map(str, p))),
    "DS": st.integers(-1000, 1000).map(str), "IS": st.integers(-1000, 1000).map(str),
    "AS": st.integers(1, 120).map(lambda n: f"{n:03d}Y"), "US": st.integers(1, 65535),
    "OB": st.binary(min_size=2, max_size=8).filter(lambda b: len(b) % 2 == 0 and any(b)),
    "UR": st.just("http://example.org/x"),
}  # fmt: skip


def _vr(tag: int) -> str | None:
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return None
    return vr if (vr in _VALUES or vr == "SQ") else None


_TAGS = sorted(t for t in load_table().rows if t >> 16 not in (0x0000, 0x0002, 0x0004) and _vr(t))
_LEAF_TAGS = [t for t in _TAGS if _vr(t) != "SQ"]
_SQ_TAGS = [t for t in _TAGS if _vr(t) == "SQ"]
_OTHER = {0x00080060: "CS", 0x00280010: "US", 0x00180050: "DS", 0x00200013: "IS"}  # not in the table: kept


@st.composite
def elements(draw, tags: list[int]) -> list[tuple[int, str, object]]:
    chosen = draw(st.lists(st.sampled_from(tags), min_size=1, max_size=12, unique=True))
    return [(t, _vr(t), draw(_VALUES[_vr(t)])) for t in chosen]


@st.composite
def datasets(draw, depth: int = 2) -> Dataset:
    ds = Dataset()
    for tag, vr, value in draw(elements(_LEAF_TAGS)):
        ds.add_new(tag, vr, value)
    for tag, vr in draw(st.lists(st.sampled_from(sorted(_OTHER.items())), max_size=3, unique=True)):
        ds.add_new(tag, vr, draw(_VALUES.get(vr, st.integers(1, 99))))
    if depth:
        for tag in draw(st.lists(st.sampled_from(_SQ_TAGS), max_size=2, unique=True)):
            ds.add_new(tag, "SQ", Sequence(draw(st.lists(datasets(depth=depth - 1), min_size=1, max_size=2))))
    if draw(st.booleans()):
        block = ds.private_block(0x0011, "PACSLAB TEST", create=True)
        block.add_new(0x01, "LO", draw(_TEXT))
    return ds


_OPTIONS = st.sets(st.sampled_from(list(OptionValues))).filter(
    lambda s: not {OptionValues.RETAIN_LONGITUDINAL_FULL_DATES, OptionValues.RETAIN_LONGITUDINAL_MODIFIED_DATES} <= s
)


def _deid(ds: Dataset, options: frozenset[OptionValues]) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return deidentify_dataset(ds, options=options, project="prop", secret="s3cret")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=datasets(), options=_OPTIONS)
def test_removes_every_attribute_the_table_marks(ds, options):
    options = frozenset(options)
    once = _deid(ds, options)
    assert table_violations(ds, once, options) == []
    assert not [e for e in once if e.tag.group % 2]
    for tag in _OTHER:
        if tag in ds:
            assert once[tag].value == ds[tag].value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ds=datasets(), options=_OPTIONS)
def test_deidentifying_twice_removes_nothing_more(ds, options):
    options = frozenset(options)
    once = _deid(ds, options)
    twice = _deid(once, options)
    assert structure(twice) == structure(once)
    assert twice.PatientIdentityRemoved == "YES"
    if "PatientID" in once and once.PatientID:
        assert twice.PatientID != ds.PatientID


@settings(max_examples=30, deadline=None)
@given(ds=datasets(depth=1))
def test_consistent_within_a_project(ds):
    assert _deid(ds, frozenset()).to_json_dict() == _deid(ds, frozenset()).to_json_dict()
