"""``pacslab send REMOTE PATH...`` or ``pacslab send REMOTE --root ROOT --study UID`` — C-STORE to a remote AE."""

from __future__ import annotations

import argparse

from pacslab.cli._dimse import add_remote_arguments, add_uid_arguments, archive_of, print_report, uid_arguments

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``send``."""
    p = subparsers.add_parser(
        "send",
        help="send files, or archived studies/series/instances, to a remote AE (C-STORE)",
        description="Exit status is 1 when any instance failed.",
    )
    add_remote_arguments(p, root_help="archive to send from (with --study/--series/--instance)")
    p.add_argument("paths", nargs="*", help="DICOM files or folders to send")
    add_uid_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Send and print the report."""
    from pacslab.dimse import send

    uids = uid_arguments(args)
    if not args.paths and not any(uids.values()):
        raise SystemExit("pacslab send: give files or folders, or --root with --study/--series/--instance")
    report = send(args.remote, args.paths or None, archive=archive_of(args),
                  calling_ae_title=args.calling_ae_title, **uids)  # fmt: skip
    return print_report(report)
