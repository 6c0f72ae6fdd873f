"""``pacslab export ROOT UID... -o OUT`` or ``--to REMOTE`` — export or send studies, series or instances.

Exit status: 0 when everything was exported or sent, 1 when anything was held back
(possible burned-in text, a series without a volume) or refused by the remote, 2 on errors.
"""

from __future__ import annotations

import argparse
import json
import os

__all__ = ["add_subparser"]

#: Environment variable read for the DICOMweb bearer token when --token is not given.
TOKEN_ENV = "PACSLAB_DICOMWEB_TOKEN"


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``export``."""
    from pacslab.cli.deidentify import add_option_argument
    from pacslab.export import FORMATS

    p = subparsers.add_parser(
        "export",
        help="export studies/series/instances as DICOM, zip, NIfTI or OME-Zarr, or send them (C-STORE, STOW-RS)",
        description="Export to a folder or zip file (-o), or send to a remote AE or DICOMweb server (--to); "
        "plain, or de-identified per DICOM PS3.15 (--deidentify). Every export is recorded in the audit table.",
    )
    p.add_argument("root")
    p.add_argument("uids", nargs="+", metavar="UID", help="StudyInstanceUIDs, SeriesInstanceUIDs or SOPInstanceUIDs")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", help="folder (or .zip file) to write into")
    where.add_argument(
        "--to",
        metavar="REMOTE",
        help="send instead: AET@host:port, a remote named in dimse.remotes, or http(s)://host/dicom-web (STOW-RS)",
    )
    p.add_argument("--format", choices=FORMATS, help="what to write with -o (default: zip for *.zip, else dicom)")
    p.add_argument("--deidentify", action="store_true", help="de-identify (PS3.15 Basic Profile) on the way out")
    p.add_argument("--project", help="de-identification project: consistent pseudonyms and UIDs [default]")
    add_option_argument(p, note=" (with --deidentify)")
    p.add_argument("--allow-burned-in", action="store_true", help="also export images that may show identifying text")
    p.add_argument("--token", help=f"bearer token of the DICOMweb server [${TOKEN_ENV}]")
    p.add_argument("--ae-title", dest="calling_ae_title", help="our (calling) AE title for C-STORE [dimse.ae-title]")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def _deidentify(args: argparse.Namespace) -> bool | str:
    if not args.deidentify:
        if args.project or args.option or args.allow_burned_in:
            raise SystemExit("pacslab export: --project, --option and --allow-burned-in go with --deidentify")
        return False
    return args.project or True


def run(args: argparse.Namespace) -> int:
    """Export or send, and print the report."""
    from pacslab.archive import open_archive
    from pacslab.export import is_dicomweb_url

    deidentify = _deidentify(args)
    if args.to is None and (args.token or args.calling_ae_title):
        raise SystemExit("pacslab export: --token and --ae-title go with --to")
    if args.to is not None and args.format:
        raise SystemExit("pacslab export: --format goes with -o; --to sends DICOM")
    common = {"deidentify": deidentify, "options": args.option, "allow_burned_in": args.allow_burned_in}
    with open_archive(args.root) as archive:
        if args.to is not None:
            token = args.token or (os.environ.get(TOKEN_ENV) or None if is_dicomweb_url(args.to) else None)
            report = archive.send(args.uids, args.to, token=token, calling_ae_title=args.calling_ae_title, **common)
        else:
            report = archive.export(args.uids, args.output, format=args.format, **common)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.summary())
        for uid, reason in [*report.held_back, *report.failures][:20]:
            print(f"not exported {uid or '(no UID)'}: {reason}")
    return 0 if report.ok else 1
