"""``pacslab move REMOTE --dest AET --study UID`` — ask a remote AE to send to another (C-MOVE)."""

from __future__ import annotations

import argparse

from pacslab.cli._dimse import add_remote_arguments, add_uid_arguments, archive_of, print_report, uid_arguments

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``move``."""
    p = subparsers.add_parser(
        "move",
        help="ask a remote AE to send studies/series/instances to a destination AE (C-MOVE)",
        description="The remote must know the destination AE title. Exit status is 1 when anything failed.",
    )
    add_remote_arguments(p)
    p.add_argument("--dest", help="destination AE title [dimse.ae-title: this archive's server]")
    add_uid_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Move and print the report."""
    from pacslab.dimse import move

    report = move(args.remote, args.dest, patient_id=args.patient, model=args.model, archive=archive_of(args),
                  calling_ae_title=args.calling_ae_title, **uid_arguments(args))  # fmt: skip
    return print_report(report)
