"""``pacslab ls ROOT {patients,studies,series,instances} [--KEYWORD VALUE ...]`` — query the catalog."""

from __future__ import annotations

import argparse

from pacslab.cli.main import print_table
from pacslab.errors import CatalogError

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``ls``."""
    p = subparsers.add_parser(
        "ls",
        help="list patients, studies, series or instances",
        description="Filters are DICOM keywords with DICOM matching, e.g. "
        "--PatientName 'DOE*' --StudyDate 20240101-20240131 --Modality CT --SliceThickness 2.5",
    )
    p.add_argument("root")
    p.add_argument("level", choices=["patients", "studies", "series", "instances"])
    p.add_argument("--fields", default="", help="comma-separated extra keywords to show")
    p.add_argument("--limit", type=int)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _filters(extra: list[str]) -> dict[str, str]:
    filters: dict[str, str] = {}
    it = iter(extra)
    for token in it:
        if not token.startswith("--"):
            raise CatalogError(f"Expected a filter such as --PatientName VALUE, got {token!r}.")
        key, sep, value = token[2:].partition("=")
        if not sep:
            try:
                value = next(it)
            except StopIteration:
                raise CatalogError(f"The filter --{key} needs a value.") from None
        filters[key] = value
    return filters


def run(args: argparse.Namespace) -> int:
    """Query and print."""
    from pacslab.archive import open_archive

    archive = open_archive(args.root)
    fields = [f for f in args.fields.split(",") if f]
    frame = archive.catalog.query(
        args.level, _filters(args.filters), fields=fields, limit=args.limit, offset=args.offset
    )
    if not args.json:
        frame = frame[[c for c in frame.columns if c not in ("stored_key", "stored_codec", "source")]]
    print_table(frame, as_json=args.json)
    return 0
