"""The fast reader builds exactly what pydicom.dcmread builds, or leaves the file to pydicom."""

from __future__ import annotations

import io
import os
import struct
import warnings

import pydicom
import pytest
from pydicom.data import get_testdata_files
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from pacslab import examples
from pacslab.ingest._prepare import _header, read_dataset
from pacslab.ingest._rawread import read_part10, sequence_items
from pacslab.testing.fuzz import FuzzSize, batches, build_mutant, fuzz_given


def _assert_same(fast: Dataset, slow: Dataset, where: str = "") -> None:
    """Equal element by element (raw values, offsets, flags) and in every attribute but the buffer read."""
    assert type(fast) is type(slow), where
    state_fast, state_slow = vars(fast), vars(slow)
    assert state_fast.keys() == state_slow.keys(), where
    for name, value in state_slow.items():
        if name == "_dict":
            continue
        if name == "buffer":
            assert type(state_fast[name]) is type(value), where
        elif name == "file_meta":
            _assert_same(state_fast[name], value, f"{where} file_meta")
        else:
            assert state_fast[name] == value, f"{where} {name}"
    assert list(fast._dict) == list(slow._dict), where
    for tag, b in slow._dict.items():
        a = fast._dict[tag]
        assert type(a) is type(b), f"{where} {tag}"
        if isinstance(b, RawDataElement):
            assert a == b, f"{where} {tag}"
            continue
        assert (a.VR, a.file_tell, a.is_undefined_length) == (b.VR, b.file_tell, b.is_undefined_length), (
            f"{where} {tag}"
        )
        if b.VR != "SQ":
            assert a.value == b.value, f"{where} {tag}"
            continue
        assert len(a.value) == len(b.value), f"{where} {tag}"
        for k, (item_a, item_b) in enumerate(zip(a.value, b.value, strict=True)):
            _assert_same(item_a, item_b, f"{where} {tag}[{k}]")


def _slow(data: bytes) -> Dataset | Exception:
    try:
        return pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # noqa: BLE001 - what pydicom makes of it is what is compared
        return exc


def _compare(data: bytes, where: str) -> bool:
    """True when the fast reader took the file (and matched pydicom); False when it left it to pydicom."""
    fast = read_part10(data)
    if fast is None:
        return False
    slow = _slow(data)
    assert not isinstance(slow, Exception), f"{where}: read fast, but pydicom fails: {slow!r}"
    _assert_same(fast, slow, where)
    assert _header(fast) == _header(slow), where
    return True


def test_pydicom_test_files_read_the_same() -> None:
    paths = [path for path in get_testdata_files() if os.path.isfile(path)]
    taken = sum(_compare(open(path, "rb").read(), path) for path in paths)  # noqa: SIM115
    assert taken >= 100, f"only {taken} of pydicom's test files took the fast path"


@pytest.mark.parametrize(
    "datasets",
    [
        lambda: examples.generate_ct_series(seed=31, n_slices=3, rows=32, columns=32),
        lambda: examples.generate_oblique_ct(seed=32, n_slices=3, rows=32, columns=32),
        lambda: examples.generate_mr_series(seed=33, n_slices=3, rows=32, columns=32),
        lambda: [examples.generate_dx_image(seed=34, rows=64, columns=48)],
        lambda: [examples.generate_dx_image(seed=35, rows=64, columns=48, transfer_syntax=pydicom.uid.RLELossless)],
        lambda: [examples.generate_enhanced_ct(seed=36, n_frames=3, rows=32, columns=32)],
    ],
    ids=["ct", "oblique", "mr", "dx", "dx-rle", "enhanced-ct"],
)
def test_generated_studies_read_the_same(datasets, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for path in examples.write_series(datasets(), tmp_path):
        assert _compare(path.read_bytes(), path.name)


def _ct_bytes(**file_meta: str) -> bytes:
    ds = examples.generate_ct_series(seed=37, n_slices=1, rows=16, columns=16)[0]
    for keyword, value in file_meta.items():
        setattr(ds.file_meta, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_elements_made_through_pydicoms_constructor_are_the_same(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # what the reader falls back to when RawDataElement's fields are not the ones it knows
    from pacslab.ingest import _rawread

    monkeypatch.setattr(_rawread, "_new_tuple", _rawread._raw_element)
    paths = [path for path in get_testdata_files() if os.path.isfile(path)][:40]
    assert sum(_compare(open(path, "rb").read(), path) for path in paths) >= 10  # noqa: SIM115


def test_damaged_files_are_left_to_pydicom() -> None:
    data = _ct_bytes()
    meta_end = 132 + 12 + struct.unpack_from("<L", data, 140)[0]
    damaged = {
        "truncated in a value": data[:-7],
        "truncated in a header": data[: meta_end + 5],
        "trailing bytes": data + b"\x01\x02\x03",
        "unknown VR": data[: meta_end + 4] + b"ZQ" + data[meta_end + 6 :],
        "no preamble": data[132:],
    }
    for what, broken in damaged.items():
        assert read_part10(broken) is None, what
        if what != "no preamble":
            assert not _compare(broken, what)


def test_other_encodings_are_left_to_pydicom() -> None:
    for ts in (pydicom.uid.ImplicitVRLittleEndian, pydicom.uid.ExplicitVRBigEndian):
        data = _ct_bytes(TransferSyntaxUID=ts)
        assert read_part10(data) is None, ts
        assert not isinstance(_slow(data), Exception), ts


def test_ingest_reads_through_the_fast_path(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(pydicom, "dcmread", lambda *a, **k: calls.append(a) or pytest.fail("pydicom.dcmread was used"))
    ds = read_dataset(_ct_bytes())
    assert ds.Modality == "CT" and calls == []


def test_fuzzed_mutants_read_the_same_or_are_left_to_pydicom() -> None:
    seen = {"fast": 0, "left": 0}

    @fuzz_given(batches(100), size=FuzzSize(batches=3, batch=100))
    def case(specs):  # type: ignore[no-untyped-def]
        for spec in specs:
            data = build_mutant(spec)
            try:
                with warnings.catch_warnings():  # pydicom warns about the mutated values, as ingest hides
                    warnings.simplefilter("ignore")
                    seen["fast" if _compare(data, repr(spec)) else "left"] += 1
            except AssertionError as exc:
                raise AssertionError(f"mutant {spec!r}: {exc}") from None

    case()
    assert seen["fast"] > 50 and seen["left"] > 50, seen  # the mutants reach both paths


def _compare_sequences(data: bytes, where: str) -> int:
    """Every raw explicit-VR-LE SQ of *data* that sequence_items reads gives pydicom's items; how many it read."""
    with warnings.catch_warnings():  # pydicom warns about odd test files, as ingest hides
        warnings.simplefilter("ignore")
        return _compare_sequences_quietly(data, where)


def _compare_sequences_quietly(data: bytes, where: str) -> int:
    ds = _slow(data)
    if isinstance(ds, Exception):
        return 0
    read = 0
    for tag, elem in list(ds._dict.items()):
        if not isinstance(elem, RawDataElement) or elem.VR != "SQ" or elem.is_implicit_VR or not elem.length:
            continue
        if elem.length == 0xFFFFFFFF or not isinstance(elem.value, bytes):
            continue
        items = sequence_items(elem, ds)
        if items is None:
            continue
        try:
            expected = ds[tag].value
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"{where} {tag}: read here, but pydicom fails: {exc!r}") from None
        assert len(items) == len(expected), f"{where} {tag}"
        for k, (mine, theirs) in enumerate(zip(items, expected, strict=True)):
            _assert_same(mine, theirs, f"{where} {tag}[{k}]")
        read += 1
    return read


def test_sequence_items_are_pydicoms(tmp_path) -> None:
    paths = [path for path in get_testdata_files() if os.path.isfile(path)]
    read = sum(_compare_sequences(open(path, "rb").read(), path) for path in paths)  # noqa: SIM115
    for path in examples.write_series([examples.generate_enhanced_ct(seed=38, n_frames=3, rows=16, columns=16),
                                       *examples.generate_ct_series(seed=39, n_slices=2, rows=16, columns=16)],
                                      tmp_path):  # fmt: skip
        read += _compare_sequences(path.read_bytes(), path.name)
    assert read >= 20, read

    @fuzz_given(batches(100), size=FuzzSize(batches=2, batch=100))
    def case(specs):  # type: ignore[no-untyped-def]
        for spec in specs:
            _compare_sequences(build_mutant(spec), repr(spec))

    case()
