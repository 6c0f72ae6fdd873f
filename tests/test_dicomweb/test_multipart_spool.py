"""SpooledParts: a multipart body split into files as it arrives, the same parts as parsing it whole."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from pacslab.dicomweb.multipart import Part, SpooledParts, parse_multipart
from pacslab.errors import InvalidDicomInputError

BOUNDARY = "abc123"
CONTENT_TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def _whole(body: bytes) -> list[tuple[dict[str, str], bytes]] | str:
    try:
        return [(p.headers, p.data) for p in parse_multipart(body, CONTENT_TYPE)]
    except InvalidDicomInputError:
        return "error"


def _spooled(body: bytes, cuts: list[int], folder: Path) -> list[tuple[dict[str, str], bytes]] | str:
    spool = SpooledParts(BOUNDARY, str(folder))
    start = 0
    for cut in [*cuts, len(body)]:
        spool.feed(body[start:cut])
        start = cut
    try:
        return [(p.headers, p.read()) for p in spool.close()]
    except InvalidDicomInputError:
        return "error"
    finally:
        spool.discard()
        assert not folder.exists()


def _random_body(rng: random.Random, valid: bool) -> bytes:
    heads = [b"Content-Type: application/dicom\r\n\r\n", b"\r\n", b"X: y\r\n\r\n"]
    if not valid:
        heads += [b"bad\r\n\r\n", b"Content-Type: a"]
    parts = []
    for _ in range(rng.randint(0, 3)):
        # content made of the delimiter's own bytes: near-delimiters everywhere
        content = bytes(rng.choice(b"\r\n-abc123X") for _ in range(rng.randint(0, 40)))
        parts.append(b"--" + BOUNDARY.encode() + b"\r\n" + rng.choice(heads) + content + b"\r\n")
    ends = [b"--" + BOUNDARY.encode() + b"--\r\n", b"--" + BOUNDARY.encode() + b"--"]
    if not valid:
        ends += [b"", b"--" + BOUNDARY.encode() + b"\r\n"]
    body = rng.choice([b"", b"", b"pre\r\n", b"x" if not valid else b""]) + b"".join(parts) + rng.choice(ends)
    if not valid:
        mutated = bytearray(body)
        for _ in range(3):
            if mutated:
                mutated[rng.randrange(len(mutated))] = rng.choice(b"\r\n-")
        body = bytes(mutated)
    return body


@pytest.mark.parametrize("valid", [True, False], ids=["well-formed", "mutated"])
def test_spooled_parts_are_the_parts_of_the_whole_body_however_it_is_cut(tmp_path: Path, valid: bool) -> None:
    # Given random bodies whose contents are full of near-delimiters, cut into random chunks
    rng = random.Random(7 if valid else 8)
    outcomes = {"parts": 0, "error": 0}
    for i in range(1500):
        body = _random_body(rng, valid)
        cuts = sorted(rng.sample(range(len(body) + 1), min(len(body) + 1, rng.randint(0, 6))))
        # When the body is spooled chunk by chunk and parsed whole
        spooled, whole = _spooled(body, cuts, tmp_path / str(i)), _whole(body)
        # Then both give the same parts, or both call it malformed
        assert spooled == whole, (body, cuts)
        outcomes["error" if whole == "error" else "parts"] += 1
    assert min(outcomes.values()) > 50, outcomes  # both kinds were exercised


@pytest.mark.parametrize(
    ("body", "parts"),
    [
        # a header's line end and the next delimiter's CRLF look like a blank line: malformed
        (b"--abc123\r\nX: y\r\n\r\n--abc123\r\n\r\nz\r\n--abc123--", None),
        # an empty part with a header, then its delimiter: one empty part
        (b"--abc123\r\nX: y\r\n\r\n\r\n--abc123--", [({"x": "y"}, b"")]),
        # delimiter-like bytes in the content, a part without header fields
        (
            b"--abc123\r\n\r\n\r\n--abc12\r\n-abc123\r\n--abc123\r\nX: y\r\n\r\n\r\n--abc123--\r\n",
            [({}, b"\r\n--abc12\r\n-abc123"), ({"x": "y"}, b"")],
        ),
    ],
    ids=["no-blank-line", "empty-part", "near-delimiters"],
)
def test_every_split_of_a_tricky_body_gives_the_whole_parse(
    tmp_path: Path, body: bytes, parts: list[tuple[dict[str, str], bytes]] | None
) -> None:
    whole = _whole(body)
    assert whole == (parts or "error")
    for cut in range(len(body) + 1):
        for second in (cut, min(len(body), cut + 1), min(len(body), cut + 7)):
            assert _spooled(body, [cut, second], tmp_path / f"{cut}-{second}") == whole, (cut, second)


def test_large_parts_are_written_as_they_arrive(tmp_path: Path) -> None:
    # Given a body of two 3 MB parts, fed in 64 kB chunks
    rng = random.Random(3)
    contents = [rng.randbytes(3 << 20), rng.randbytes(3 << 20)]
    body = b"".join(b"--" + BOUNDARY.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + c + b"\r\n"
                    for c in contents) + b"--" + BOUNDARY.encode() + b"--\r\n"  # fmt: skip
    spool = SpooledParts(BOUNDARY, str(tmp_path / "spool"))
    written = []
    for start in range(0, len(body), 65536):
        spool.feed(body[start : start + 65536])
        written.append(sum(p.stat().st_size for p in (tmp_path / "spool").iterdir()))
    # Then each part is on disk while the body is still arriving, never held back whole
    assert written[len(written) // 4] > 1 << 20
    parts = spool.close()
    assert [p.read() for p in parts] == contents
    assert all(p.data == b"" and p.path is not None for p in parts)
    assert parts[0].content_type.type == "application/dicom"
    spool.discard()
    assert not (tmp_path / "spool").exists()


def test_a_failed_write_is_raised_by_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    spool = SpooledParts(BOUNDARY, str(tmp_path / "spool"))

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    spool.feed(b"--" + BOUNDARY.encode() + b"\r\n\r\n" + b"x" * 1000 + b"\r\n--" + BOUNDARY.encode() + b"--")
    monkeypatch.undo()
    with pytest.raises(OSError, match="No space left"):
        spool.close()
    spool.discard()
    assert not (tmp_path / "spool").exists()


def test_part_read_gives_data_in_memory_or_in_its_file(tmp_path: Path) -> None:
    (tmp_path / "p").write_bytes(b"on disk")
    assert Part({}, b"in memory").read() == b"in memory"
    assert Part({}, path=str(tmp_path / "p")).read() == b"on disk"
