"""Shared pieces of the DIMSE subcommands (``pacslab echo|send|find|get|move``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["add_remote_arguments", "add_uid_arguments", "archive_of", "print_report", "uid_arguments"]


def add_remote_arguments(p: argparse.ArgumentParser, *, root_help: str | None = None) -> None:
    """Add REMOTE, ``--root`` and ``--ae-title``."""
    p.add_argument("remote", help="a remote named in dimse.remotes, or AET@host:port (append ?tls for DICOM TLS)")
    p.add_argument(
        "--root",
        help=root_help or "archive whose pacslab.yaml names the remotes (and holds the TLS certificates)",
    )
    p.add_argument("--ae-title", dest="calling_ae_title", help="our (calling) AE title [dimse.ae-title]")


def add_uid_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--study``, ``--series``, ``--instance``, ``--patient``, ``--model``."""
    p.add_argument("--study", action="append", help="StudyInstanceUID (repeatable)")
    p.add_argument("--series", action="append", help="SeriesInstanceUID (repeatable)")
    p.add_argument("--instance", action="append", help="SOPInstanceUID (repeatable)")
    p.add_argument("--patient", help="PatientID (Patient Root model)")
    p.add_argument("--model", choices=("study", "patient"), default="study", help="query/retrieve model")


def uid_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The UID keyword arguments of get/move/send."""

    def one(values: list[str] | None) -> Any:
        return None if not values else values[0] if len(values) == 1 else values

    return {
        "study_instance_uid": one(args.study),
        "series_instance_uid": one(args.series),
        "sop_instance_uid": one(args.instance),
    }


def archive_of(args: argparse.Namespace) -> Archive | None:
    """The archive named by ``--root``, if any."""
    if not getattr(args, "root", None):
        return None
    from pacslab.archive import open_archive

    return open_archive(args.root)


def print_report(report: Any) -> int:
    """Print a TransferReport; exit status 1 when anything failed."""
    print(report.summary())
    for uid, reason in report.failures[:20]:
        print(f"failed {uid or '(no UID)'}: {reason}")
    if report.outcomes:
        print("archived: " + ", ".join(f"{v} {k}" for k, v in sorted(report.outcomes.items())))
    return 0 if report.ok else 1
