"""``pacslab deidentify ROOT UID -o DIR`` — de-identified copies of a study, series or instance (PS3.15 Annex E).

Exit status: 0 when every instance was written, 1 when any was held back (for
possible burned-in text), 2 on errors.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_option_argument", "add_subparser"]


def add_option_argument(p: argparse.ArgumentParser, *, note: str = "") -> None:
    """``--option NAME`` (repeatable): the PS3.15 options, shared by ``deidentify`` and ``export``."""
    from pacslab.anonymize.profiles import OptionValues

    names = [o.cli_name for o in OptionValues]
    p.add_argument("--option", action="append", default=[], metavar="NAME", choices=names,
                   help=f"a PS3.15 option{note}, repeatable: " + ", ".join(names))  # fmt: skip


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``deidentify``."""
    p = subparsers.add_parser(
        "deidentify",
        help="write de-identified copies of a study, series or instance (DICOM PS3.15 Basic Profile)",
        description="Write de-identified copies (DICOM PS3.15 Annex E Basic Application Level Confidentiality "
        "Profile) of a study, series or instance. UIDs and pseudonyms are consistent within a project; "
        "the way back is kept in the archive for administrators.",
    )
    p.add_argument("root")
    p.add_argument("uid", help="a StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID")
    p.add_argument("-o", "--output", required=True, help="folder to write into")
    add_option_argument(p)
    p.add_argument("--project", default="default", help="pseudonyms and UIDs are consistent within a project")
    p.add_argument(
        "--allow-burned-in",
        action="store_true",
        help="also write images that may show identifying text in their pixels",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """De-identify."""
    from pacslab.anonymize import deidentify, parse_options
    from pacslab.archive import open_archive

    try:
        options = parse_options(args.option)
    except ValueError as exc:
        print(f"pacslab deidentify: {exc}", file=sys.stderr)
        return 2
    with open_archive(args.root) as archive:
        report = deidentify(
            archive,
            args.uid,
            args.output,
            options=options,
            project=args.project,
            allow_burned_in=args.allow_burned_in,
        )
    print(f"wrote {len(report.written)} de-identified files under {args.output}")
    for sop_instance_uid, reason in report.held_back:
        print(f"held back {sop_instance_uid}: {reason}")
    return 0 if report.ok else 1
