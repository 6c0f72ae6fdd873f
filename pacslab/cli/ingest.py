"""``pacslab ingest ROOT PATH... [--watch]`` — add files, folders and zips."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``ingest``."""
    p = subparsers.add_parser(
        "ingest",
        help="ingest DICOM files, folders and zip files",
        description="Exit status is 1 when any input was rejected (the summary is printed still).",
    )
    p.add_argument("root", help="archive folder or URL")
    p.add_argument("paths", nargs="+", help="files, folders (recursive) or zip files")
    p.add_argument("--watch", action="store_true", help="keep watching the folders for new files until Ctrl-C")
    p.add_argument(
        "--no-volumes",
        action="store_true",
        help="do not build volumes now (later: pacslab verify --repair)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        help="a dask.distributed scheduler address (tcp://host:8786) to do the work on (ingest.scheduler)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Ingest and print the report."""
    from pacslab._serving import keep_freed_memory
    from pacslab.archive import open_archive

    keep_freed_memory()  # this process and its workers read file after file: reuse the memory, do not refault it
    archive = open_archive(args.root)
    progress = not args.no_progress and sys.stderr.isatty()
    if args.watch:
        print(f"watching {', '.join(args.paths)} (Ctrl-C to stop)", file=sys.stderr)
        report = archive.watch(args.paths, progress=progress)
    else:
        report = archive.ingest(
            args.paths, progress=progress, build_volumes=not args.no_volumes, scheduler=args.scheduler
        )
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.summary())
        for source, reason in report.rejected:
            print(f"rejected {source}: {reason}")
        for uid, reason in report.no_volume:
            print(f"no volume for series {uid}: {reason}")
        if report.quarantined:
            print(f"rejected files were copied to {archive.url}/quarantine/")
    return 1 if report.rejected else 0
