"""Hostile input through STOW-RS: mutated parts and malformed multipart bodies over real HTTP.

Invariants: no 5xx; each part of a body that parses gets a ReferencedSOPSequence item or a
FailedSOPSequence item with a FailureReason (and a ``part N:`` reason in the Warning
header); every rejection is recorded with its reason; verify is ok and every instance reads
back byte-identical to a part. A body that does not parse is refused with a 4xx and a
message, and changes nothing. Sizes and seed: :mod:`pacslab.testing.fuzz`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import pacslab
from pacslab.dicomweb import DicomwebServer, create_token
from pacslab.testing.fuzz import (
    assert_archive_consistent,
    batches,
    build_mutant,
    fuzz_given,
    fuzz_size,
    run_with_timeout,
    seed_files,
)

SIZE = fuzz_size("stow")
PARTS_PER_BODY = 10
MAX_BODY = 4 * 1024 * 1024
FAILURE_DUPLICATE = 0x0111


class Stow:
    """A DICOMweb server over an empty archive, and a writer's token."""

    def __init__(self, root: Path) -> None:
        self.archive = pacslab.open_archive(root / "archive", create=True)
        self.server = DicomwebServer(self.archive, port=0, stable_delay=None, max_body_size=MAX_BODY).start()
        self.headers = {"Authorization": f"Bearer {create_token(self.archive, role='write', name='fuzzer')}"}

    @property
    def url(self) -> str:
        return self.server.url + "/studies"

    def post(self, body: bytes, content_type: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, "Content-Type": content_type, **kwargs.pop("headers", {})}
        return requests.post(self.url, data=body, headers=headers, timeout=60, **kwargs)

    def state(self) -> tuple[int, int]:
        """Instances and rejections: what a refused request must leave unchanged."""
        return self.archive.catalog.count("instances", {}), len(self.archive.rejections())


@pytest.fixture(scope="module")
def stow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stow]:
    s = Stow(tmp_path_factory.mktemp("stow-fuzz"))
    try:
        yield s
    finally:
        s.server.stop()
        s.archive.close()


def multipart(parts: list[bytes], *, boundary: str = "fuzzb0undary", part_type: str = "application/dicom") -> bytes:
    """A multipart/related body of *parts*."""
    marker = b"--" + boundary.encode()
    chunks = [marker + b"\r\nContent-Type: " + part_type.encode() + b"\r\n\r\n" + p + b"\r\n" for p in parts]
    return b"".join(chunks) + marker + b"--\r\n"


CONTENT_TYPE = 'multipart/related; type="application/dicom"; boundary=fuzzb0undary'


def _sequence(result: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    return list(result.get(tag, {}).get("Value", []))


def test_fuzz_stow(stow: Stow) -> None:
    inputs: set[bytes] = set()
    totals = {"parts": 0, "failed": 0, "stored": 0}

    @fuzz_given(batches(SIZE.batch), size=SIZE)
    def case(specs):
        parts = [build_mutant(s) for s in specs]
        inputs.update(parts)
        for start in range(0, len(parts), PARTS_PER_BODY):
            chunk = parts[start : start + PARTS_PER_BODY]
            rejections_before = len(stow.archive.rejections())
            # When a body of mutated parts is posted
            r = run_with_timeout(lambda chunk=chunk: stow.post(multipart(chunk), CONTENT_TYPE), 120)
            # Then it is answered without a server error, each part referenced or failed with a reason
            assert r.status_code in (200, 202, 400, 409), (r.status_code, r.text[:500])
            result = r.json()
            referenced = _sequence(result, "00081199")
            failed = _sequence(result, "00081198")
            assert len(referenced) + len(failed) == len(chunk), result
            assert all(item["00081197"]["Value"][0] for item in failed), failed
            if failed:
                warning = r.headers["Warning"]
                assert warning.startswith("299 ") and "part " in warning, warning
            conflicts = sum(1 for item in failed if item["00081197"]["Value"][0] == FAILURE_DUPLICATE)
            assert len(stow.archive.rejections()) - rejections_before == len(failed) - conflicts
            totals["parts"] += len(chunk)
            totals["failed"] += len(failed)
            totals["stored"] += len(referenced)
        assert_archive_consistent(stow.archive, inputs)

    case()
    assert totals["parts"] == SIZE.cases
    assert totals["failed"] > 0 and totals["stored"] > 0, totals


GOOD = multipart([b"x"])  # the body is well formed; its part is not DICOM


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (GOOD, "application/dicom", 415),
        (GOOD, "text/plain", 415),
        (GOOD, 'multipart/related; type="application/dicom+json"; boundary=fuzzb0undary', 415),
        (GOOD, 'multipart/related; type="application/dicom"', 400),  # no boundary
        (GOOD, 'multipart/related; type="application/dicom"; boundary=other', 400),  # boundary not in the body
        (GOOD, 'multipart/related; type="application/dicom"; boundary=""', 400),
        (GOOD[:-20], CONTENT_TYPE, 400),  # cut short: no closing boundary
        (b"", CONTENT_TYPE, 400),
        (b"--fuzzb0undary--\r\n", CONTENT_TYPE, 400),  # no parts
        (b"--fuzzb0undaryXX\r\n\r\nabc\r\n--fuzzb0undary--", CONTENT_TYPE, 400),
        (b"--fuzzb0undary\r\nContent-Type application/dicom\r\n\r\nabc\r\n--fuzzb0undary--", CONTENT_TYPE, 400),
        (b"--fuzzb0undary\r\nno blank line\r\n--fuzzb0undary--", CONTENT_TYPE, 400),
        (b"\x00" * 1000, CONTENT_TYPE, 400),
        (GOOD, 'multipart/related; type="application/dicom"; boundary=' + "b" * 5000, 400),
        (GOOD, 'multipart/related; boundary=fuzzb0undary; type="application/dicom"; type="text/html"', 415),
        (multipart([b"x"], part_type="text/html"), CONTENT_TYPE, 400),  # the one part is not DICOM
        (multipart([b"x"], part_type="multipart/related; boundary=inner"), CONTENT_TYPE, 400),
        (b"x" * (MAX_BODY + 1), CONTENT_TYPE, 413),
    ],
    ids=[
        "not-multipart", "text", "json-parts", "no-boundary", "wrong-boundary", "empty-boundary", "truncated",
        "empty-body", "no-parts", "boundary-prefix", "bad-part-header", "no-blank-line", "nul-bytes",
        "long-boundary", "second-type-param", "html-part", "nested-multipart", "too-large",
    ],
)  # fmt: skip
def test_malformed_multipart_is_refused(stow: Stow, body: bytes, content_type: str, status: int) -> None:
    # Given the archive's state
    before = stow.state()
    # When a malformed STOW-RS request is posted
    r = stow.post(body, content_type)
    # Then it is refused with a 4xx and a reason, and nothing changed
    assert r.status_code == status, (r.status_code, r.text[:300])
    if status in (400, 409) and "00081198" in r.text:  # per-part failures: each with its FailureReason
        assert all(item["00081197"]["Value"] for item in r.json()["00081198"]["Value"])
    else:
        assert r.json()["message"]
    assert r.headers["Warning"].startswith("299 ")
    assert stow.state() == before


def _raw_request(port: int, head: bytes, body: bytes = b"", *, read_timeout: float = 30.0) -> bytes:
    """Send bytes on a fresh connection, half-close it, and return what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def _head(stow: Stow, content_length: str) -> bytes:
    auth = stow.headers["Authorization"]
    return (
        f"POST /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\nContent-Length: {content_length}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize("declared", [str(10**15), str(MAX_BODY + 1), "99999999999999999999999999"])
def test_huge_declared_content_length_is_refused_before_the_body(stow: Stow, declared: str) -> None:
    # Given a request that declares a body far over the limit and sends only a little of it
    before = stow.state()
    # When it is sent
    answer = run_with_timeout(lambda: _raw_request(stow.server.port, _head(stow, declared), GOOD), 60)
    # Then the server refuses it at once (413, or 400 for a length it cannot parse), never a 5xx
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 413), answer[:300]
    assert stow.state() == before
    assert requests.get(stow.server.url + "/studies", headers=stow.headers, timeout=30).status_code == 200


@pytest.mark.parametrize("declared", ["-1", "abc", "1, 2"])
def test_bad_content_length_is_refused(stow: Stow, declared: str) -> None:
    before = stow.state()
    answer = run_with_timeout(lambda: _raw_request(stow.server.port, _head(stow, declared), GOOD), 60)
    assert answer == b"" or 400 <= int(answer.split(b" ", 2)[1]) < 500, answer[:300]
    assert stow.state() == before


def test_body_shorter_than_declared_stores_nothing(stow: Stow) -> None:
    # Given a request declaring a valid part's length, cut off halfway (the client goes away)
    before = stow.state()
    body = multipart([seed_files()[0]])
    answer = run_with_timeout(
        lambda: _raw_request(stow.server.port, _head(stow, str(len(body))), body[: len(body) // 2]), 60
    )
    # Then nothing is stored and the server still serves requests
    assert not answer.startswith(b"HTTP/1.1 5"), answer[:300]
    assert stow.state() == before
    r = stow.post(body, CONTENT_TYPE)
    assert r.status_code in (200, 202), r.text[:300]


def test_chunked_body_over_the_limit_is_refused(stow: Stow) -> None:
    # Given a body sent chunked (no Content-Length to refuse it by) that grows past the limit
    before = stow.state()

    def chunks() -> Iterator[bytes]:
        yield b"--fuzzb0undary\r\nContent-Type: application/dicom\r\n\r\n"
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"\x00" * 65536
        yield b"\r\n--fuzzb0undary--\r\n"

    # When it is posted, it is refused with 413 and nothing is stored
    r = run_with_timeout(lambda: stow.post(chunks(), CONTENT_TYPE), 60)  # type: ignore[arg-type]
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert r.json()["message"]
    assert stow.state() == before
