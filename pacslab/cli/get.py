"""``pacslab get REMOTE --study UID (--root ROOT | --out DIR)`` — C-GET from a remote AE."""

from __future__ import annotations

import argparse

from pacslab.cli._dimse import add_remote_arguments, add_uid_arguments, archive_of, print_report, uid_arguments

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``get``."""
    p = subparsers.add_parser(
        "get",
        help="retrieve from a remote AE over one association (C-GET) into an archive or a folder",
        description="Exit status is 1 when any instance failed.",
    )
    add_remote_arguments(p, root_help="archive to ingest what arrives into (its pacslab.yaml also names remotes)")
    p.add_argument("--out", help="write the instances as files in this folder instead")
    add_uid_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Retrieve and print the report."""
    from pacslab.dimse import get

    archive = archive_of(args)
    if archive is None and not args.out:
        raise SystemExit("pacslab get: give --root ARCHIVE to ingest into, or --out FOLDER")
    report = get(args.remote, archive=None if args.out else archive, directory=args.out, patient_id=args.patient,
                 model=args.model, calling_ae_title=args.calling_ae_title, **uid_arguments(args))  # fmt: skip
    if archive is not None and not args.out:
        archive.build_volumes()
    return print_report(report)
