"""Hostile DICOM input for tests: seed files, mutations, and hypothesis strategies over them.

The fuzz tests of ``tests/test_security`` (folder ingest, C-STORE, STOW-RS) share what is
here: valid seed files (pydicom's bundled test files and a small synthetic CT series), a
mutation language (:func:`mutate`: bit flips, truncation, insertion, deletion, corrupt or
huge element lengths, duplicated or removed elements, deeply nested sequences, bad VRs,
hostile UIDs such as ``../../x`` or SQL text), hypothesis strategies that draw batches of
mutants (:func:`batches`), and the invariants every path must keep
(:func:`assert_archive_consistent`).

Generation is deterministic: every fuzz test runs with the hypothesis seed
``PACSLAB_FUZZ_SEED`` (default ``20261128``), draws ``batches × batch size`` cases (see
:data:`DEFAULT_SIZES`), and does not shrink (a failure prints its batch). ``make test`` runs
about 2000 folder-ingest, 500 C-STORE and 500 STOW-RS cases (some 20 s on 2 cores). A
larger run multiplies the number of batches by ``PACSLAB_FUZZ_SCALE`` and should pick
another seed: 5× (15 000 cases) takes about 2 minutes on 2 cores, 20× (60 000 cases) some
20–30 minutes, as the check after each batch reads back every instance archived so far::

    PACSLAB_FUZZ_SCALE=20 PACSLAB_FUZZ_SEED=7 python -m pytest -p no:cacheprovider tests/test_security -k fuzz

Needs hypothesis (``pip install "pacslab[test]"``).

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import struct
import threading
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = [
    "BAD_UIDS",
    "BUNDLED_FILES",
    "DEFAULT_SIZES",
    "FuzzSize",
    "Mutant",
    "Mutation",
    "assert_archive_consistent",
    "batches",
    "build_mutant",
    "dataset_offset",
    "fuzz_given",
    "fuzz_seed",
    "fuzz_size",
    "mutants",
    "mutate",
    "mutations",
    "run_with_timeout",
    "seed_files",
]

T = TypeVar("T")

#: pydicom test files the seeds come from: only files shipped inside pydicom (others are downloaded).
BUNDLED_FILES = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm")

#: UI values a hostile sender may put in a UID element: path traversal, SQL, NUL, too long, not ASCII.
BAD_UIDS: tuple[bytes, ...] = (
    b"../../x",
    b"1.2.3/../../4",
    b"1" * 200,
    b"1.2.'; DROP TABLE instances; --",
    b"",
    b"\x00\x00",
    b"1.2..3",
    b"\xff\xfe",
    b"%2e%2e%2f%2e%2e",
    b"..\\..\\windows",
)

#: Batches and cases per batch of each fuzz test in ``make test`` (before ``PACSLAB_FUZZ_SCALE``).
DEFAULT_SIZES: dict[str, tuple[int, int]] = {
    "ingest": (20, 100),
    "c-store": (5, 50),  # per spool mode: 2 × 250
    "stow": (10, 50),
}

#: One mutation, e.g. ``("flip", 1234, 0x40)``: its kind, then a position and a parameter.
Mutation = tuple[Any, ...]
#: One mutated file: the index of its seed (modulo the number of seeds) and the mutations applied in order.
Mutant = tuple[int, list[Mutation]]

_LONG_VRS = (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR", b"OD", b"OF", b"OL", b"OV")


@dataclasses.dataclass(frozen=True)
class FuzzSize:
    """How many cases one fuzz test runs: ``batches`` hypothesis examples of ``batch`` cases each."""

    batches: int
    batch: int

    @property
    def cases(self) -> int:
        """Cases in all."""
        return self.batches * self.batch


def _env_number(name: str, default: str, kind: Callable[[str], T]) -> T:
    text = os.environ.get(name, default)
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number; unset it or give e.g. {name}={default}.") from None


def fuzz_seed() -> int:
    """The hypothesis seed of the fuzz tests (``PACSLAB_FUZZ_SEED``, default 20261128)."""
    return _env_number("PACSLAB_FUZZ_SEED", "20261128", int)


def fuzz_size(name: str) -> FuzzSize:
    """The size of fuzz test *name* (a key of :data:`DEFAULT_SIZES`), scaled by ``PACSLAB_FUZZ_SCALE``.

    Raises
    ------
    ValueError
        Unknown *name*, or ``PACSLAB_FUZZ_SCALE`` is not a positive number.
    """
    if name not in DEFAULT_SIZES:
        raise ValueError(f"Unknown fuzz test {name!r}; expected one of {sorted(DEFAULT_SIZES)}.")
    scale = _env_number("PACSLAB_FUZZ_SCALE", "1", float)
    if scale <= 0:
        raise ValueError(f"PACSLAB_FUZZ_SCALE must be positive, not {scale!r}.")
    n, batch = DEFAULT_SIZES[name]
    return FuzzSize(max(1, round(n * scale)), batch)


def fuzz_given(
    strategy: st.SearchStrategy[Any], *, size: FuzzSize
) -> Callable[[Callable[..., None]], Callable[[], None]]:
    """Decorate a test body taking one drawn value: ``size.batches`` examples, seeded, no shrinking, no deadline.

    Examples
    --------
    >>> size = fuzz_size("stow")
    >>> @fuzz_given(batches(size.batch), size=size)
    ... def case(specs):
    ...     assert len(specs) == size.batch
    >>> case()
    """

    def wrap(fn: Callable[..., None]) -> Callable[[], None]:
        configured = settings(
            max_examples=size.batches,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.explicit, Phase.generate),  # no shrinking: a failure prints its batch
        )
        return seed(fuzz_seed())(configured(given(strategy)(fn)))  # type: ignore[no-any-return]

    return wrap


# -- seeds ---------------------------------------------------------------------------------------
@functools.cache
def seed_files() -> tuple[bytes, ...]:
    """Valid Part 10 files the mutants start from: :data:`BUNDLED_FILES` and a 2-slice synthetic CT."""
    from pydicom.data import get_testdata_file

    from pacslab.examples import generate_ct_series

    out = []
    for name in BUNDLED_FILES:
        with open(get_testdata_file(name), "rb") as fh:  # type: ignore[arg-type]
            out.append(fh.read())
    for ds in generate_ct_series(rows=32, columns=32, n_slices=2):
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return tuple(out)


def dataset_offset(data: bytes) -> int:
    """Where the dataset starts after preamble and file meta (0 when there is no ``DICM`` prefix)."""
    if len(data) < 132 or data[128:132] != b"DICM":
        return 0
    pos = 132
    while pos + 8 <= len(data) and data[pos : pos + 2] == b"\x02\x00":
        if data[pos + 4 : pos + 6] in _LONG_VRS:
            (length,) = struct.unpack("<I", data[pos + 8 : pos + 12].ljust(4, b"\x00"))
            pos += 12 + length
        else:
            (length,) = struct.unpack("<H", data[pos + 6 : pos + 8])
            pos += 8 + length
    return min(pos, len(data))


def _elements(data: bytes, start: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the top-level explicit VR little endian elements from *start* (best effort)."""
    out: list[tuple[int, int]] = []
    pos = start
    while pos + 8 <= len(data) and len(out) < 400:
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
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
    """(0040,0275) Request Attributes Sequence nested *depth* times, with undefined lengths."""
    item = b""
    for _ in range(depth):
        item = b"".join((
            b"\x40\x00\x75\x02SQ\x00\x00\xff\xff\xff\xff",
            b"\xfe\xff\x00\xe0\xff\xff\xff\xff",
            item,
            b"\xfe\xff\x0d\xe0\x00\x00\x00\x00",
            b"\xfe\xff\xdd\xe0\x00\x00\x00\x00",
        ))  # fmt: skip
    return item


# -- mutations ----------------------------------------------------------------------------------
def _byte_level(data: bytes, op: Mutation) -> bytes:
    kind, n = op[0], len(data)
    if kind == "flip":
        i = op[1] % n
        return data[:i] + bytes([data[i] ^ (op[2] or 1)]) + data[i + 1 :]
    if kind == "truncate":
        return data[: op[1] % n]
    if kind == "insert":
        i = op[1] % (n + 1)
        return bytes(data[:i] + op[2] + data[i:])
    i = op[1] % n  # delete
    return data[:i] + data[i + op[2] :]


def _set_length(data: bytes, s: int, length: int) -> bytes:
    if data[s + 6 : s + 8] == b"\x00\x00" and data[s + 4 : s + 6] in _LONG_VRS and len(data) >= s + 12:
        return data[: s + 8] + struct.pack("<I", length & 0xFFFFFFFF) + data[s + 12 :]
    return data[: s + 6] + struct.pack("<H", length & 0xFFFF) + data[s + 8 :]


def _element_level(data: bytes, op: Mutation) -> bytes:
    kind = op[0]
    els = _elements(data, dataset_offset(data))
    if kind == "nest":
        i = els[op[1] % len(els)][1] if els else dataset_offset(data)
        return data[:i] + _nested_sequence(op[2]) + data[i:]
    if kind == "uid":
        els = [(s, e) for s, e in els if data[s + 4 : s + 6] == b"UI"]
    if not els:
        return data
    s, e = els[op[1] % len(els)]
    if kind == "length":
        return _set_length(data, s, op[2])
    if kind == "huge":
        return _set_length(data, s, 0xFFFFFFF0)
    if kind == "dup":
        return data[:e] + data[s:e] + data[e:]
    if kind == "remove":
        return data[:s] + data[e:]
    if kind == "vr":
        return data[: s + 4] + op[2] + data[s + 6 :]
    value = op[2] + (b"\x00" if len(op[2]) % 2 else b"")  # uid
    return data[: s + 6] + struct.pack("<H", len(value) & 0xFFFF) + value + data[e:]


_BYTE_KINDS = ("flip", "truncate", "insert", "delete")
_ELEMENT_KINDS = ("length", "huge", "dup", "remove", "nest", "vr", "uid")


def mutate(data: bytes, op: Mutation) -> bytes:
    """Apply one mutation to encoded DICOM (a Part 10 file or a bare explicit VR little endian dataset).

    Byte-level kinds work anywhere: ``("flip", at, mask)``, ``("truncate", at)``,
    ``("insert", at, bytes)``, ``("delete", at, count)``. Element-level kinds pick the
    top-level element ``at`` (modulo their number): ``("length", at, value)`` and ``("huge", at)``
    rewrite its length field, ``("dup", at)`` and ``("remove", at)`` repeat or drop it,
    ``("nest", at, depth)`` inserts a sequence nested *depth* deep after it, ``("vr", at, vr)``
    writes a bad VR, ``("uid", at, value)`` puts a hostile value (:data:`BAD_UIDS`) in a UI element.
    Positions are taken modulo the data's length, so any integer is valid.

    Examples
    --------
    >>> mutate(b"abcdef", ("truncate", 3))
    b'abc'
    >>> mutate(b"abcdef", ("flip", 0, 0x20))
    b'Abcdef'
    """
    if not data:
        return data
    if op[0] in _BYTE_KINDS:
        return _byte_level(data, op)
    if op[0] in _ELEMENT_KINDS:
        return _element_level(data, op)
    raise ValueError(f"Unknown mutation kind {op[0]!r}; expected one of {_BYTE_KINDS + _ELEMENT_KINDS}.")


def build_mutant(spec: Mutant, seeds: Sequence[bytes] | None = None) -> bytes:
    """The bytes of a drawn mutant: its seed (from *seeds*, default :func:`seed_files`) with its mutations applied."""
    pool = seed_files() if seeds is None else seeds
    data = pool[spec[0] % len(pool)]
    for op in spec[1]:
        data = mutate(data, op)
    return data


def mutations() -> st.SearchStrategy[Mutation]:
    """Strategy of one :func:`mutate` operation."""
    at = st.integers(min_value=0, max_value=2**31)
    return st.one_of(
        st.tuples(st.just("flip"), at, st.integers(0, 255)),
        st.tuples(st.just("truncate"), at),
        st.tuples(st.just("insert"), at, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("delete"), at, st.integers(1, 256)),
        st.tuples(st.just("length"), at, st.sampled_from([0, 1, 2, 3, 7, 0xFFFF, 1 << 20, 0x7FFFFFFF, 0xFFFFFFFF])),
        st.tuples(st.just("huge"), at),
        st.tuples(st.just("dup"), at),
        st.tuples(st.just("remove"), at),
        st.tuples(st.just("nest"), at, st.sampled_from([1, 8, 64, 300, 2000])),
        st.tuples(st.just("vr"), at, st.sampled_from([b"XX", b"\x00\x00", b"SQ", b"OB", b"UN", b"ui", b"\xff\xff"])),
        st.tuples(st.just("uid"), at, st.sampled_from(BAD_UIDS)),
    )


def mutants(*, max_mutations: int = 3) -> st.SearchStrategy[Mutant]:
    """Strategy of one :data:`Mutant`: a seed index and 0 to *max_mutations* mutations (0 keeps a valid file)."""
    return st.tuples(st.integers(0, 100), st.lists(mutations(), min_size=0, max_size=max_mutations))


def batches(size: int) -> st.SearchStrategy[list[Mutant]]:
    """Strategy of *size* mutants, the unit one fuzz example pushes through a path."""
    return st.lists(mutants(), min_size=size, max_size=size)


# -- invariants -----------------------------------------------------------------------------------
def run_with_timeout(fn: Callable[[], T], timeout: float) -> T:
    """Run *fn* in a thread and return its result; fail with "hang" when it takes over *timeout* seconds."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True, name="pacslab-fuzz-case")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"hang: {getattr(fn, '__name__', fn)!r} gave no answer in {timeout} s")
    if "error" in out:
        raise out["error"]
    return out["value"]  # type: ignore[no-any-return]


def assert_archive_consistent(archive: Archive, inputs: Collection[bytes], *, bare_ok: bool = False) -> None:
    """Assert nothing is half stored: verify is ok, instances read back as inputs, rejections have reasons.

    Parameters
    ----------
    archive : Archive
    inputs : collection of bytes
        Everything sent so far.
    bare_ok : bool
        Also accept an instance whose dataset (after the file meta the archive added, as for
        DIMSE, which carries the dataset only) is one of *inputs*.

    Raises
    ------
    AssertionError
        Naming the first instance that does not read back as sent, or the verify problems.
    """
    report = archive.verify()
    assert report.ok, report
    frame = archive.instances()
    for uid in list(frame["SOPInstanceUID"]) if len(frame) else []:
        data = archive.read_instance(uid, verify=True)
        stored_as_sent = data in inputs or (bare_ok and data[dataset_offset(data) :] in inputs)
        assert stored_as_sent, f"instance {uid!r} does not read back as any input"
    rejections = archive.rejections()
    if len(rejections):
        assert rejections["reason"].map(bool).all(), "a rejection has no reason"
