"""The stored header (DICOM JSON text) is exactly pydicom's, from the fast raw-value encoder.

The oracle is pydicom itself: ``Dataset.to_json_dict`` for the encoder, and the
header code as it was before the encoder (pydicom's ``to_json_dict``, element by
element when that fails) for ``_header``. Inputs: pydicom's test files,
hand-made raw elements of every VR in three transfer syntaxes, the synthetic
studies of :mod:`pacslab.examples`, and mutants of :mod:`pacslab.testing.fuzz`.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
from collections.abc import Callable
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.datadict import DicomDictionary
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

import pacslab.ingest._dicomjson as _dicomjson
import pacslab.ingest._prepare as prepare
from pacslab import examples
from pacslab.ingest._dicomjson import UnsupportedSettingsError, dataset_to_json_dict
from pacslab.ingest._prepare import BULK_THRESHOLD, _bulk_uri, _header, dataset_to_json, read_dataset
from pacslab.testing.fuzz import FuzzSize, batches, build_mutant, fuzz_given, seed_files

SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian)


# -- oracles ----------------------------------------------------------------------------------------
def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def _pydicom_json(ds: Dataset) -> str:
    return _dumps(ds.to_json_dict(bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=_bulk_uri))


def _fast_json(ds: Dataset, delegated: list[int] | None = None) -> str:
    return _dumps(
        dataset_to_json_dict(
            ds, bulk_data_threshold=BULK_THRESHOLD, bulk_data_element_handler=_bulk_uri, delegated=delegated
        )
    )


def _header_text(ds: Dataset) -> str:
    return _header(ds)[0]


def _reference_header_json(ds: Dataset) -> str:
    """``_header`` text as it was before the fast encoder."""
    try:
        return _pydicom_json(ds)
    except Exception:  # noqa: BLE001
        for _ in ds.iterall():
            pass
        return _dumps(dataset_to_json(ds))


def _outcome(fn: Callable[[Dataset], str], data: bytes) -> str:
    """The text *fn* makes of a fresh read of *data*, or which exception it raises."""
    ds = read_dataset(data, check=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(ds)
        except Exception as exc:  # noqa: BLE001
            return f"raises {type(exc).__name__}"


def _readable(data: bytes) -> bool:
    try:
        read_dataset(data, check=False)
    except Exception:  # noqa: BLE001
        return False
    return True


def _record(ds: Dataset, header: dict[str, Any] | None) -> str:
    """The catalog columns and the geometry record of *ds*, read from *header* where it has them."""
    syntax = prepare._transfer_syntax(ds)
    return _dumps({"attributes": prepare._attributes(ds, syntax, header), "geometry": prepare._geometry(ds, header)})


def _record_from_header(ds: Dataset) -> str:
    return _record(ds, _header(ds)[1])


def _record_from_pydicom(ds: Dataset) -> str:
    return _record(ds, None)


def assert_same_as_pydicom(data: bytes) -> None:
    """The encoder equals ``to_json_dict`` and ``_header`` text equals the old header code (or both raise);
    the catalog columns and geometry taken from the header equal pydicom's values (or both raise)."""
    assert _outcome(_fast_json, data) == _outcome(_pydicom_json, data)
    header = _outcome(_header_text, data)
    assert header == _outcome(_reference_header_json, data)
    if not header.startswith("raises "):  # else the file is rejected before its record is made
        assert _outcome(_record_from_header, data) == _outcome(_record_from_pydicom, data)


def _part10(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# -- pydicom's test files ------------------------------------------------------------------------------
def _testdata() -> list[str]:
    return sorted(f for f in set(get_testdata_files()) if os.path.isfile(f))


@pytest.fixture(scope="module")
def pydicom_files() -> dict[str, bytes]:
    out = {}
    for path in _testdata():
        with open(path, "rb") as fh:
            data = fh.read()
        if _readable(data):
            out[os.path.basename(path)] = data
    return out


def test_pydicom_test_files(pydicom_files: dict[str, bytes]) -> None:
    assert len(pydicom_files) > 100  # the bundled set, charsets (chr*.dcm), implicit, big endian, truncated
    for name, data in pydicom_files.items():
        try:
            assert_same_as_pydicom(data)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def test_pydicom_test_files_mostly_fast(pydicom_files: dict[str, bytes]) -> None:
    # Not a vacuous pass: most elements of these varied files are encoded from their raw values.
    elements = delegated = 0
    for data in pydicom_files.values():
        ds = read_dataset(data, check=False)
        tags: list[int] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                _fast_json(ds, tags)
            except Exception:  # noqa: BLE001, S112
                continue
            elements += sum(1 for _ in ds.iterall())
        delegated += len(tags)
    assert elements > 5000
    assert delegated < elements / 20, (delegated, elements)


# -- hand-made raw elements ------------------------------------------------------------------------------
def _tag(vr: str) -> int:
    """A public tag whose dictionary VR is *vr* (so that implicit VR reads it the same way), after the charset."""
    return min(t for t, entry in DicomDictionary.items() if entry[0] == vr and not entry[3] and t > 0x00080005)


_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}


def _element(tag: int, vr: str, value: bytes, syntax: str) -> bytes:
    if syntax == ImplicitVRLittleEndian:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value
    order = ">" if syntax == ExplicitVRBigEndian else "<"
    head = struct.pack(f"{order}HH", tag >> 16, tag & 0xFFFF) + vr.encode()
    if vr in _LONG_VRS:
        return head + b"\0\0" + struct.pack(f"{order}I", len(value)) + value
    return head + struct.pack(f"{order}H", len(value)) + value


def _file(elements: list[tuple[int, str, bytes]], syntax: str) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.file_meta.TransferSyntaxUID = syntax
    return _part10(ds) + b"".join(_element(tag, vr, value, syntax) for tag, vr, value in sorted(elements))


_VALUES: dict[str, list[bytes]] = {
    "AE": [b"STORESCP", b" AE1 \\AE2 ", b"  ", b"A\\"],
    "AS": [b"042Y", b"\\", b"0 "],
    "CS": [b"ORIGINAL\\PRIMARY\\AXIAL ", b"  ", b"A\\", b"A\x00", b" A ", b"\\\\", b"A\tB"],
    "DA": [b"20240101", b"20240101\\20240102", b"2024 "],
    "DT": [b"20240101120000.123456+0100 ", b"2024"],
    "TM": [b"120000.5 ", b"12\\13"],
    "UI": [b"1.2.840.10008.1.2\x00", b"1.2\\3.4", b" 1.2 ", b"\x00\x00", b"1.2\\\x00"],
    "UR": [b"http://example.org/a b ", b"  "],
    "LO": [b"ID\\ID2 ", b"Caf\xe9", b"  \x00", b"A\\ \\B", b"\x1b$B", b"\xc3\xa9t\xc3\xa9"],
    "SH": [b"ACC ", b"\xff\xfe"],
    "UC": [b"long\\text ", b""],
    "LT": [b"line 1\r\nline 2\\not split  \x00", b"   "],
    "ST": [b" lead", b"Stra\xdfe "],
    "UT": [b"x" * 2000, b"\\"],
    "PN": [
        b"Doe^John",
        b"Doe^John=Ideo^Graphic=Pho^Netic",
        b"A==B",
        b"A=B=C=D",
        b"=",
        b"^",
        b"Doe\\Roe",
        b"Doe\\",
        b"Doe\\=",
        b"Smith=\\Jones ",
        b"  ",
        b"M\xfcller^Hans",
    ],
    "DS": [
        b"1.5",
        b" 1.50 ",
        b"1\\2.5\\-3e2",
        b"-0.0\\+.5\\5.",
        b"1\\",
        b"\\",
        b"abc",
        b"1e999",
        b"nan",
        b"inf",
        b"  ",
        b"1.0\x00",
        b"1_0",
        b"0x10",
        b"1.5\\ ",
        b"\x001",
        b"12345678901234567890",
        b"1,5",
    ],
    "IS": [
        b"12",
        b" 12 ",
        b"-1\\+2\\3 ",
        b"1.0",
        b"1.5",
        b"123456789012345",
        b"12345678901234567890",
        b"x",
        b"1\\",
        b"\t5",
        b"  ",
        b"1 2",
    ],
    "US": [b"\x01\x02", b"\x01\x02\x03\x04", b"\x01\x02\x03"],
    "SS": [b"\xff\xff", b"\x00\x80\x01\x00"],
    "UL": [b"\x01\x02\x03\x04", b"\x01\x02\x03\x04\x05\x06\x07\x08", b"\x01\x02"],
    "SL": [b"\xff\xff\xff\xff"],
    "FL": [b"\x00\x00\xc0\x3f", b"\x00\x00\x80\x7f\x00\x00\xc0\x7f", b"\xcd\xcc\x8c\x3f"],
    "FD": [b"\x9a\x99\x99\x99\x99\x99\xf1\x3f", b"\x00" * 8 + b"\x00\x00\x00\x00\x00\x00\xf8\x7f"],
    "UV": [b"\x01" * 8, b"\x01" * 16],
    "SV": [b"\xff" * 8],
    "OB": [b"\x01\x02", b"\x00" * 768, b"\x00" * 769, b"\x01\x02\x03"],
    "OW": [b"\x01\x02\x03\x04", b"\xff" * 2048],
    "OF": [b"\x00\x00\xc0\x3f"],
    "OD": [b"\x00" * 16],
    "OL": [b"\x01\x00\x00\x00"],
    "OV": [b"\x01" * 8],
    "AT": [b"\x10\x00\x10\x00", b"\x28\x00\x09\x00\x18\x00\x50\x00", b"\x10\x00\x10"],
}
_CHARSETS = (None, b"ISO_IR 100", b"ISO_IR 192", b"ISO_IR 6", b"ISO 2022 IR 87", b"ISO_IR 144", b"\\ISO 2022 IR 100")


def _raw_cases() -> list[tuple[str, list[tuple[int, str, bytes]]]]:
    cases = [(f"{vr} {value[:24]!r}", [(_tag(vr), vr, value)]) for vr, values in _VALUES.items() for value in values]
    cases += [(f"{vr} empty", [(_tag(vr), vr, b"")]) for vr in _VALUES]
    text = [
        (0x00100010, "PN", b"M\xfcller^J\xf6rg=\xc3\xa9"),
        (0x00100020, "LO", b"Caf\xe9\\x"),
        (0x00081030, "LO", b"\xc3\xa9\\x"),
        (0x00080081, "ST", b"ab\x1b(Bcd\x1b-A\xe9"),  # escape sequences pydicom strips
        (0x00080050, "SH", b"\x1b$B\x1b(B"),
    ]
    for charset in _CHARSETS:
        head = [] if charset is None else [(0x00080005, "CS", charset)]
        cases.append((f"charset {charset!r}", head + text))
    cases += [
        ("UN public tag", [(0x00100010, "UN", b"Doe^John")]),
        ("UN private tag", [(0x00090010, "LO", b"CREATOR"), (0x00091001, "UN", b"\x01\x02")]),
        ("private LO", [(0x00090010, "LO", b"CREATOR"), (0x00091001, "LO", b"value ")]),
        ("ambiguous US or SS", [(0x00280103, "US", b"\x01\x00"), (0x00280120, "SS", b"\x00\x80")]),
        ("LUT descriptor", [(0x00281101, "SS", b"\x00\x80\x00\x00\x10\x00")]),
        ("unknown public tag", [(0x00089998, "LO", b"x ")]),
        ("group length", [(0x00080000, "UL", b"\x04\x00\x00\x00")]),
        ("bad VR", [(0x00100010, "XX", b"Doe")]),
        ("sequence", [(0x00081140, "SQ", _item(_element(0x00081150, "UI", b"1.2\x00", ExplicitVRLittleEndian)))]),
        ("empty sequence", [(0x00081140, "SQ", b"")]),
        # person names: pydicom keeps every "=" group, JSON three; the catalog columns must not follow JSON
        ("PN groups", [(0x00100010, "PN", b"Doe^J=I=P=extra"), (0x00080090, "PN", b"=Ideo")]),
        ("PN three groups", [(0x00100010, "PN", b"A=B=C"), (0x00080090, "PN", b"A==C ")]),
        ("PN trailing groups", [(0x00100010, "PN", b" Doe^J = "), (0x00080090, "PN", b"A==\x00")]),
        ("PN several names", [(0x00100010, "PN", b"A^B=C\\D"), (0x00080090, "PN", b"X\\Y=Z=W=V")]),
    ]
    return cases


def _item(content: bytes) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(content)) + content


@pytest.mark.parametrize("syntax", SYNTAXES, ids=["explicit-le", "implicit-le", "explicit-be"])
@pytest.mark.parametrize(("name", "elements"), _raw_cases(), ids=[name for name, _ in _raw_cases()])
def test_raw_elements(name: str, elements: list[tuple[int, str, bytes]], syntax: str) -> None:
    if name == "sequence" and syntax != ExplicitVRLittleEndian:
        pytest.skip("the hand-made item is explicit VR little endian")
    data = _file(elements, syntax)
    if not _readable(data):
        pytest.skip("pydicom cannot read it")
    assert_same_as_pydicom(data)


@pytest.mark.parametrize("syntax", SYNTAXES, ids=["explicit-le", "implicit-le", "explicit-be"])
def test_plain_values_are_encoded_from_raw(syntax: str) -> None:
    # the common forms must not be handed to pydicom (that would pass the equality tests slowly)
    plain = [(_tag(vr), vr, values[0]) for vr, values in _VALUES.items()]
    plain.append((0x00080005, "CS", b"ISO_IR 100"))
    ds = read_dataset(_file(plain, syntax), check=False)
    delegated: list[int] = []
    assert _fast_json(ds, delegated) == _outcome(_pydicom_json, _file(plain, syntax))
    assert delegated == []


def test_values_seen_before_are_encoded_once_and_the_memo_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_dicomjson, "_MEMO", {})
    monkeypatch.setattr(_dicomjson, "_MEMO_ENTRIES", 8)
    reads: list[bytes] = []
    original = _dicomjson._READERS["LO"]
    monkeypatch.setitem(_dicomjson._READERS, "LO", lambda value, *args: reads.append(value) or original(value, *args))
    names = [0x00081030, 0x0008103E, 0x00100020, 0x00080070, 0x00181030, 0x00321060]  # LO
    counts = []
    for k in range(3):  # the second file repeats the first one's values, the third has others
        data = _file([(tag, "LO", f"v{i} {k // 2}".encode()) for i, tag in enumerate(names)], ExplicitVRLittleEndian)
        del reads[:]
        assert _fast_json(read_dataset(data, check=False)) == _outcome(_pydicom_json, data)
        counts.append(len(reads))
        assert len(_dicomjson._MEMO) <= 8
    assert counts == [6, 0, 6]


@pytest.mark.parametrize("syntax", SYNTAXES, ids=["explicit-le", "implicit-le", "explicit-be"])
@pytest.mark.parametrize("vr", ["LO", "PN", "DS", "IS", "CS", "US", "FD", "OB", "AT"])
def test_truncated_last_value(vr: str, syntax: str) -> None:
    data = _file([(0x00080016, "UI", b"1.2.3\x00"), (_tag(vr), vr, _VALUES[vr][0] * 2)], syntax)
    for cut in (1, 2, 3):
        if _readable(data[:-cut]):
            assert_same_as_pydicom(data[:-cut])


# -- the synthetic studies of pacslab.examples --------------------------------------------------------------
def _synthetic(syntax: str) -> dict[str, list[bytes]]:
    size = {"rows": 32, "columns": 32, "transfer_syntax": syntax}
    series = {
        "ct": examples.generate_ct_series(n_slices=2, **size),
        "mr": examples.generate_mr_series(n_slices=2, echo_times=(20.0, 90.0), **size),
        "oblique-ct": examples.generate_oblique_ct(n_slices=2, **size),
        "localizer-ct": examples.generate_localizer_mixed_series(
            n_slices=2, n_localizers=1, localizer_shape=(40, 32), **size
        ),
        "enhanced-ct": [examples.generate_enhanced_ct(n_frames=3, **size)],
        "dx": [examples.generate_dx_image(**size)],
        "phantom-ct": examples.generate_phantom_ct(shape=(2, 32, 32), transfer_syntax=syntax)[0],
    }
    return {name: [_part10(ds) for ds in datasets] for name, datasets in series.items()}


@pytest.fixture(scope="module", params=SYNTAXES, ids=["explicit-le", "implicit-le", "explicit-be"])
def synthetic(request: pytest.FixtureRequest) -> tuple[str, dict[str, list[bytes]]]:
    return request.param, _synthetic(request.param)


def test_synthetic_studies(synthetic: tuple[str, dict[str, list[bytes]]]) -> None:
    _, series = synthetic
    for name, files in series.items():
        for data in files:
            try:
                assert_same_as_pydicom(data)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from None


def _record_calls(monkeypatch: pytest.MonkeyPatch, method: str) -> list[Any]:
    """Have ``Dataset.<method>`` note each call (its first argument, or the dataset); returns the notes."""
    calls: list[Any] = []
    original = getattr(Dataset, method)

    def recording(self: Dataset, *args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Dataset, method, recording)
    return calls


def test_synthetic_studies_take_the_fast_path(
    synthetic: tuple[str, dict[str, list[bytes]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    syntax, series = synthetic
    calls = _record_calls(monkeypatch, "to_json_dict")
    for name, files in series.items():
        for data in files:
            # no fallback to pydicom for the whole dataset ...
            _header(read_dataset(data, check=False))
            assert calls == [], name
            # ... and, read with explicit VRs, not one element left to pydicom
            delegated: list[int] = []
            _fast_json(read_dataset(data, check=False), delegated)
            if syntax == ImplicitVRLittleEndian:  # only the 'US or SS' and 'OB or OW' of the dictionary
                assert all(" or " in pydicom.datadict.dictionary_VR(tag) for tag in delegated), (name, delegated)
            else:
                assert delegated == [], (name, [f"{tag:08X}" for tag in delegated])


def test_catalog_columns_of_synthetic_studies_come_from_the_header(
    synthetic: tuple[str, dict[str, list[bytes]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # names included: converting an element through pydicom would pass the equality tests, slowly
    _, series = synthetic
    for name, files in series.items():
        ds = read_dataset(files[0], check=False)
        header = _header(ds)[1]
        asked = _record_calls(monkeypatch, "get")
        attributes = prepare._attributes(ds, prepare._transfer_syntax(ds), header)
        monkeypatch.undo()
        assert attributes["PatientName"], name
        assert not [k for k in asked if isinstance(k, str)], (name, asked)


# -- fuzzed mutants -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_seeds() -> tuple[bytes, ...]:
    extra = _synthetic(ExplicitVRLittleEndian)
    return seed_files() + (extra["enhanced-ct"][0], extra["mr"][0], extra["dx"][0])


def test_fuzzed_mutants(fuzz_seeds: tuple[bytes, ...]) -> None:
    seen = {"cases": 0, "raises": 0, "text": 0}

    @fuzz_given(batches(100), size=FuzzSize(batches=4, batch=100))
    def case(specs):
        for spec in specs:
            data = build_mutant(spec, fuzz_seeds)
            if not _readable(data):
                continue
            try:
                assert_same_as_pydicom(data)
            except AssertionError as exc:
                raise AssertionError(f"mutant {spec!r}: {exc}") from None
            seen["cases"] += 1
            seen["raises" if _outcome(_pydicom_json, data).startswith("raises ") else "text"] += 1

    case()
    # the mutants exercise both outcomes
    assert seen["cases"] > 300 and seen["raises"] > 10 and seen["text"] > 100, seen


# -- settings ------------------------------------------------------------------------------------------------
def test_non_default_pydicom_settings_use_pydicom(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _synthetic(ExplicitVRLittleEndian)["ct"][0]
    monkeypatch.setattr(pydicom.config, "datetime_conversion", True)
    with pytest.raises(UnsupportedSettingsError):
        dataset_to_json_dict(read_dataset(data, check=False))
    monkeypatch.setattr(pydicom.config, "datetime_conversion", False)
    monkeypatch.setattr(prepare, "dataset_to_json_dict", _raise)
    assert _outcome(_header_text, data) == _outcome(_reference_header_json, data)


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise UnsupportedSettingsError("fast path disabled")
