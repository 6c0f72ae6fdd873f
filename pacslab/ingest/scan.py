"""Find what to ingest: files, folders (recursively) and zip files."""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["Source", "iter_sources"]

#: Names that are never instances (DICOMDIR is a directory of a medium).
SKIPPED_NAMES = frozenset({"DICOMDIR", ".DS_Store", "Thumbs.db"})


@dataclasses.dataclass(frozen=True)
class Source:
    """One input file: a path, or a member of a zip file."""

    path: str
    member: str | None = None

    @property
    def name(self) -> str:
        """How reports name it."""
        return self.path if self.member is None else f"{self.path}:{self.member}"

    @property
    def basename(self) -> str:
        """The file's own name."""
        return os.path.basename(self.member or self.path)

    def read(self) -> bytes:
        """The file's bytes."""
        if self.member is None:
            with open(self.path, "rb") as fh:
                return fh.read()
        with zipfile.ZipFile(self.path) as zf:
            return zf.read(self.member)


def _is_zip(path: str) -> bool:
    return path.lower().endswith(".zip") and zipfile.is_zipfile(path)


def _zip_members(path: str) -> Iterator[Source]:
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir() or os.path.basename(info.filename) in SKIPPED_NAMES:
                continue
            yield Source(path, info.filename)


def iter_sources(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Source | tuple[str, str]]:
    """Every file under *paths*, in a stable order.

    Yields
    ------
    Source
        A file to ingest.
    tuple of (str, str)
        ``(path, reason)`` for a path that does not exist or cannot be listed.
    """
    for item in paths:
        path = os.fspath(item)
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name in SKIPPED_NAMES or name.startswith("."):
                        continue
                    full = os.path.join(folder, name)
                    yield from (_zip_members(full) if _is_zip(full) else [Source(full)])
        elif os.path.isfile(path):
            yield from (_zip_members(path) if _is_zip(path) else [Source(path)])
        else:
            yield (path, "no such file or folder")


def list_sources(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[Source], list[tuple[str, str]]]:
    """:func:`iter_sources` split into files and missing paths."""
    sources, missing = [], []
    for s in iter_sources(paths):
        (sources if isinstance(s, Source) else missing).append(s)  # type: ignore[arg-type]
    return sources, missing  # type: ignore[return-value]


def absolute(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Absolute forms of *paths* (so worker processes and reports agree)."""
    return [str(Path(p).expanduser().absolute()) for p in paths]
