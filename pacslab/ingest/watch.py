"""Watch folders: ingest files once they have stopped changing."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from pacslab.config import get as config_get
from pacslab.ingest.report import IngestReport
from pacslab.ingest.scan import Source, iter_sources

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["watch_folders"]

logger = logging.getLogger(__name__)


def _stat(path: str) -> tuple[int, float] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime


def watch_folders(
    archive: Archive,
    paths: list[Any],
    *,
    interval: float | None = None,
    settle: float | None = None,
    stop: threading.Event | None = None,
    max_cycles: int | None = None,
    progress: bool = False,
) -> IngestReport:
    """Poll *paths* and ingest each settled file once (see :meth:`Archive.watch`)."""
    interval = float(config_get("ingest.watch-interval", interval))  # type: ignore[arg-type]
    settle = float(config_get("ingest.watch-settle", settle))  # type: ignore[arg-type]
    stop = stop or threading.Event()
    total = IngestReport()
    done: dict[str, tuple[int, float]] = {}
    seen: dict[str, tuple[tuple[int, float], float]] = {}
    cycles = 0
    try:
        while not stop.is_set() and (max_cycles is None or cycles < max_cycles):
            cycles += 1
            now = time.monotonic()
            ready = []
            for source in iter_sources(paths):
                if not isinstance(source, Source):
                    continue
                stat = _stat(source.path)
                if stat is None or done.get(source.name) == stat:
                    continue
                previous = seen.get(source.name)
                if previous is None or previous[0] != stat:
                    seen[source.name] = (stat, now)
                elif now - previous[1] >= settle:
                    ready.append((source, stat))
            if ready:
                report = archive.ingest(
                    [s.path for s, _ in ready if s.member is None]
                    + sorted({s.path for s, _ in ready if s.member is not None}),
                    progress=progress,
                )
                total.merge(report)
                for source, stat in ready:
                    done[source.name] = stat
                    seen.pop(source.name, None)
                logger.info("watch: %s", report.summary())
            if max_cycles is None or cycles < max_cycles:
                stop.wait(interval)
    except KeyboardInterrupt:
        pass
    return total
