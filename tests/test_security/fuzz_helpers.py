"""Helpers of the hostile-input tests: seed DICOM files and a hypothesis strategy of mutations.

The number of hypothesis examples per test is ``PACSLAB_FUZZ_EXAMPLES`` (default 10, a quick
run); set e.g. ``PACSLAB_FUZZ_EXAMPLES=200`` for a long run. Each example is a batch of
``BATCH`` mutated files.
"""

from __future__ import annotations

import functools
import io
import os
import struct

import pydicom
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

EXAMPLES = int(os.environ.get("PACSLAB_FUZZ_EXAMPLES", "10"))
BATCH = int(os.environ.get("PACSLAB_FUZZ_BATCH", "40"))

#: Only files shipped inside pydicom (others are downloaded).
BUNDLED = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm")


@functools.cache
def seeds() -> tuple[bytes, ...]:
    from pacslab.examples import generate_ct_series

    out = [open(get_testdata_file(name), "rb").read() for name in BUNDLED]
    for ds in generate_ct_series(rows=32, columns=32, n_slices=2):
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True) if _has_enforce() else ds.save_as(buf, write_like_original=False)
        out.append(buf.getvalue())
    return tuple(out)


def _has_enforce() -> bool:
    import inspect

    return "enforce_file_format" in inspect.signature(pydicom.Dataset.save_as).parameters


def dataset_offset(data: bytes) -> int:
    """Where the dataset starts after preamble and file meta (0 when there is none)."""
    if len(data) < 132 or data[128:132] != b"DICM":
        return 0
    pos = 132
    while pos + 8 <= len(data) and data[pos : pos + 2] == b"\x02\x00":
        vr = data[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR", b"OD", b"OF", b"OL", b"OV"):
            (length,) = struct.unpack("<I", data[pos + 8 : pos + 12])
            pos += 12 + length
        else:
            (length,) = struct.unpack("<H", data[pos + 6 : pos + 8])
            pos += 8 + length
    return pos


def _elements(data: bytes, start: int) -> list[tuple[int, int]]:
    """(start, end) of top-level explicit-VR-LE elements from *start* (best effort)."""
    out = []
    pos = start
    while pos + 8 <= len(data) and len(out) < 400:
        vr = data[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR", b"OD", b"OF", b"OL", b"OV"):
            if pos + 12 > len(data):
                break
            (length,) = struct.unpack("<I", data[pos + 8 : pos + 12])
            head = 12
        elif vr.isalpha() and vr.isupper():
            (length,) = struct.unpack("<H", data[pos + 6 : pos + 8])
            head = 8
        else:
            break
        if length == 0xFFFFFFFF:
            out.append((pos, pos + head))
            break
        end = pos + head + length
        if end > len(data):
            break
        out.append((pos, end))
        pos = end
    return out


def _nested_sequence(depth: int) -> bytes:
    """(0040,0275) Request Attributes Sequence nested *depth* times, undefined lengths."""
    item = b""
    for _ in range(depth):
        item = (
            b"\x40\x00\x75\x02SQ\x00\x00\xff\xff\xff\xff"
            + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
            + item
            + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
            + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
        )
    return item


BAD_UIDS = [b"../../x", b"1.2.3/../../4", b"1" * 200, b"1.2.'; DROP TABLE instances; --", b"", b"\x00\x00", b"1.2..3", b"\xff\xfe"]


def apply(data: bytes, op: tuple) -> bytes:
    kind = op[0]
    n = len(data)
    start = dataset_offset(data)
    if n == 0:
        return data
    if kind == "flip":
        _, at, mask = op
        i = at % n
        return data[:i] + bytes([data[i] ^ (mask or 1)]) + data[i + 1 :]
    if kind == "truncate":
        return data[: op[1] % n]
    if kind == "insert":
        i = op[1] % (n + 1)
        return data[:i] + op[2] + data[i:]
    if kind == "delete":
        i = op[1] % n
        return data[:i] + data[i + op[2] :]
    els = _elements(data, start)
    if kind == "length":  # corrupt an element's length field
        if not els:
            return data
        s, e = els[op[1] % len(els)]
        vr = data[s + 4 : s + 6]
        if data[s + 6 : s + 8] == b"\x00\x00" and e - s >= 12 and vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            return data[: s + 8] + struct.pack("<I", op[2]) + data[s + 12 :]
        return data[: s + 6] + struct.pack("<H", op[2] & 0xFFFF) + data[s + 8 :]
    if kind == "huge":  # declare a huge length on some element
        if not els:
            return data
        s, e = els[op[1] % len(els)]
        if data[s + 6 : s + 8] == b"\x00\x00":
            return data[: s + 8] + struct.pack("<I", 0xFFFFFFF0) + data[s + 12 :]
        return data[: s + 6] + b"\xff\xff" + data[s + 8 :]
    if kind == "dup":
        if not els:
            return data
        s, e = els[op[1] % len(els)]
        return data[:e] + data[s:e] + data[e:]
    if kind == "remove":
        if not els:
            return data
        s, e = els[op[1] % len(els)]
        return data[:s] + data[e:]
    if kind == "nest":
        i = els[op[1] % len(els)][1] if els else start
        return data[:i] + _nested_sequence(op[2]) + data[i:]
    if kind == "vr":  # bad VR
        if not els:
            return data
        s, e = els[op[1] % len(els)]
        return data[: s + 4] + op[2] + data[s + 6 :]
    if kind == "uid":  # replace the value of a UI element by a hostile one
        uis = [(s, e) for s, e in els if data[s + 4 : s + 6] == b"UI"]
        if not uis:
            return data
        s, e = uis[op[1] % len(uis)]
        value = op[2] + (b"\x00" if len(op[2]) % 2 else b"")
        return data[: s + 6] + struct.pack("<H", len(value) & 0xFFFF) + value + data[e:]
    raise AssertionError(kind)


pos = st.integers(min_value=0, max_value=2**31)
op = st.one_of(
    st.tuples(st.just("flip"), pos, st.integers(0, 255)),
    st.tuples(st.just("truncate"), pos),
    st.tuples(st.just("insert"), pos, st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), pos, st.integers(1, 256)),
    st.tuples(st.just("length"), pos, st.sampled_from([0, 1, 2, 3, 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, 7, 1 << 20])),
    st.tuples(st.just("huge"), pos),
    st.tuples(st.just("dup"), pos),
    st.tuples(st.just("remove"), pos),
    st.tuples(st.just("nest"), pos, st.sampled_from([1, 8, 64, 300, 2000])),
    st.tuples(st.just("vr"), pos, st.sampled_from([b"XX", b"\x00\x00", b"SQ", b"OB", b"UN", b"ui", b"\xff\xff"])),
    st.tuples(st.just("uid"), pos, st.sampled_from(BAD_UIDS)),
)

#: one mutated file: (seed index, mutations)
mutant = st.tuples(st.integers(0, 100), st.lists(op, min_size=0, max_size=3))


def build(spec: tuple) -> bytes:
    s = seeds()
    data = s[spec[0] % len(s)]
    for o in spec[1]:
        data = apply(data, o)
    return data


batch = st.lists(mutant, min_size=BATCH, max_size=BATCH)
