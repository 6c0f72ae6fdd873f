"""``multipart/related`` (RFC 2387) bodies: parsing STOW-RS requests, streaming WADO-RS responses."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Iterator

from pacslab.errors import InvalidDicomInputError

__all__ = [
    "MediaType",
    "multipart_length",
    "multipart_stream",
    "parse_media_type",
    "parse_multipart",
    "Part",
]


@dataclasses.dataclass(frozen=True)
class MediaType:
    """A media type with its parameters, ``multipart/related; type="application/dicom"``."""

    type: str
    params: dict[str, str]

    def param(self, name: str, default: str | None = None) -> str | None:
        """A parameter, by case-insensitive name."""
        return self.params.get(name.lower(), default)


@dataclasses.dataclass(frozen=True)
class Part:
    """One part of a multipart body."""

    headers: dict[str, str]
    data: bytes

    @property
    def content_type(self) -> MediaType:
        """The part's media type (``application/octet-stream`` when it names none)."""
        return parse_media_type(self.headers.get("content-type", "application/octet-stream"))


def _split_params(text: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return out


def parse_media_type(text: str) -> MediaType:
    """Parse one media range such as ``multipart/related; type="application/dicom"; transfer-syntax=*``."""
    head, *params = _split_params(text)
    out: dict[str, str] = {}
    for p in params:
        name, _, value = p.partition("=")
        if name.strip():
            out[name.strip().lower()] = value.strip().strip('"')
    return MediaType(head.strip().lower(), out)


def parse_accept(text: str | None) -> list[MediaType]:
    """The media ranges of an Accept header, in the order given (q values are ignored)."""
    if not text:
        return []
    ranges: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            ranges.append("".join(current))
            current = []
        else:
            current.append(ch)
    ranges.append("".join(current))
    return [parse_media_type(r) for r in ranges if r.strip()]


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """Split a ``multipart/related`` body into its parts.

    Raises
    ------
    InvalidDicomInputError
        The body is not multipart, names no boundary, or is cut short.
    """
    media = parse_media_type(content_type)
    if media.type != "multipart/related":
        raise InvalidDicomInputError(
            f"STOW-RS expects a multipart/related body, not {media.type!r}; send "
            'Content-Type: multipart/related; type="application/dicom"; boundary=...'
        )
    boundary = media.param("boundary")
    if not boundary:
        raise InvalidDicomInputError("The multipart/related Content-Type names no boundary parameter.")
    marker = b"--" + boundary.encode("latin-1")
    start = body.find(marker)
    if start < 0 or (start > 0 and body[start - 2 : start] != b"\r\n"):
        raise InvalidDicomInputError(f"The body does not contain the boundary {boundary!r} it declares.")
    parts: list[Part] = []
    pos = start + len(marker)
    delimiter = b"\r\n" + marker
    while True:
        if body[pos : pos + 2] == b"--":
            break
        if body[pos : pos + 2] != b"\r\n":
            raise InvalidDicomInputError("A multipart boundary is not followed by CRLF; the body is malformed.")
        end = body.find(delimiter, pos + 2)
        if end < 0:
            raise InvalidDicomInputError(
                "The multipart body ends before its closing boundary; it was cut short or is malformed."
            )
        first = pos + 2  # the part's first byte; its content is copied once, straight from the body
        head_end = body.find(b"\r\n\r\n", first, end)
        if head_end < 0:
            if body.startswith(b"\r\n", first, end):  # a part with no header fields
                head, data = b"", body[first + 2 : end]
            else:
                raise InvalidDicomInputError("A multipart part has no blank line between its headers and its content.")
        else:
            head, data = body[first:head_end], body[head_end + 4 : end]
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").split("\r\n"):
            if line.strip():
                name, sep, value = line.partition(":")
                if not sep:
                    raise InvalidDicomInputError(f"A multipart part header line {line!r} is malformed.")
                headers[name.strip().lower()] = value.strip()
        parts.append(Part(headers, data))
        pos = end + len(delimiter)
    if not parts:
        raise InvalidDicomInputError("The multipart body holds no parts.")
    return parts


def new_boundary() -> str:
    """A fresh boundary string."""
    return uuid.uuid4().hex


def multipart_content_type(part_type: str, boundary: str, **params: str) -> str:
    """The Content-Type of a multipart/related response."""
    extra = "".join(f"; {k.replace('_', '-')}={v}" for k, v in params.items())
    return f'multipart/related; type="{part_type}"; boundary={boundary}{extra}'


def _part_head(content_type: str, boundary: str, first: bool) -> bytes:
    """What goes before a part's data: the previous part's closing CRLF, the delimiter, the part's header."""
    return b"".join(
        (b"" if first else b"\r\n", b"--", boundary.encode("ascii"), b"\r\nContent-Type: ",
         content_type.encode("latin-1"), b"\r\n\r\n")
    )  # fmt: skip


def _close(boundary: str, empty: bool) -> bytes:
    return (b"--" if empty else b"\r\n--") + boundary.encode("ascii") + b"--\r\n"


def multipart_stream(
    parts: Iterable[tuple[str, bytes | list[bytes | memoryview]]], boundary: str
) -> Iterator[bytes | memoryview]:
    """Yield a multipart body piece by piece from ``(content_type, data)`` pairs (never the whole body at once).

    Each part's data, bytes or a list of buffers that make it up, is yielded as it is, never
    copied into a larger buffer.
    """
    first = True
    for content_type, data in parts:
        yield _part_head(content_type, boundary, first)
        if isinstance(data, list):
            yield from data
        else:
            yield data
        first = False
    yield _close(boundary, first)


def multipart_length(parts: Iterable[tuple[str, int]], boundary: str) -> int:
    """The length in bytes of :func:`multipart_stream`'s body for ``(content_type, data size)`` pairs."""
    total, first = 0, True
    for content_type, size in parts:
        total += len(_part_head(content_type, boundary, first)) + size
        first = False
    return total + len(_close(boundary, first))
