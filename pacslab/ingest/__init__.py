"""Ingest: every way instances enter the archive goes through one pipeline."""

from __future__ import annotations

from pacslab.ingest.pipeline import build_pending_volumes, ingest_bytes, ingest_paths
from pacslab.ingest.report import IngestReport
from pacslab.ingest.scan import Source, iter_sources

__all__ = [
    "IngestReport",
    "Source",
    "build_pending_volumes",
    "ingest_bytes",
    "ingest_paths",
    "iter_sources",
]
