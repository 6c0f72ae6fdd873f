"""``pacslab find REMOTE [-k Keyword=value ...]`` — C-FIND on a remote AE."""

from __future__ import annotations

import argparse

from pacslab.cli._dimse import add_remote_arguments, archive_of

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``find``."""
    p = subparsers.add_parser(
        "find",
        help="search a remote AE (C-FIND)",
        description="Keys use DICOM matching: -k PatientName='DOE*' -k StudyDate=20240101- ; "
        "-k Keyword alone asks for that attribute.",
    )
    add_remote_arguments(p)
    p.add_argument("--level", default="STUDY", type=str.upper, choices=("PATIENT", "STUDY", "SERIES", "IMAGE"))
    p.add_argument("--model", choices=("study", "patient"), default="study", help="query/retrieve model")
    p.add_argument(
        "-k", "--key", action="append", default=[], metavar="KEYWORD[=VALUE]", help="a matching or return key"
    )
    p.add_argument("--limit", type=int, help="stop after this many matches")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Find and print a table."""
    from pacslab.cli.main import print_table
    from pacslab.dimse import find

    filters, fields = {}, []
    for key in args.key:
        keyword, sep, value = key.partition("=")
        if sep:
            filters[keyword.strip()] = value
        else:
            fields.append(keyword.strip())
    frame = find(args.remote, args.level, model=args.model, fields=fields, limit=args.limit,
                 calling_ae_title=args.calling_ae_title, archive=archive_of(args), **filters)  # fmt: skip
    print_table(frame, as_json=args.json)
    return 0
