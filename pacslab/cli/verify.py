"""``pacslab verify ROOT`` — check that catalog, originals and volumes agree."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``verify``."""
    p = subparsers.add_parser("verify", help="re-hash originals and check catalog, storage and volumes")
    p.add_argument("root")
    p.add_argument("--quick", action="store_true", help="check presence only, do not re-hash")
    p.add_argument(
        "--repair",
        action="store_true",
        help="build pending volumes and remove volume generations a killed build left behind",
    )
    p.add_argument(
        "--orphan-age",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="with --repair: remove only orphan volume generations unchanged for this long (default: an hour)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Verify; exit 1 when anything is wrong."""
    from pacslab.archive import open_archive

    archive = open_archive(args.root)
    removed = []
    if args.repair:
        archive.build_volumes()
        removed = archive.remove_orphan_volumes(older_than=args.orphan_age)
    report = archive.verify(rehash=not args.quick)
    if args.json:
        print(json.dumps({**report.to_dict(), "removed_volumes": removed}, indent=1))
    else:
        state = "consistent" if report.ok else f"{len(report.problems)} problems"
        print(f"{state}: checked {report.checked}")
        for p in report.problems:
            print(f"problem: {p}")
        if report.orphans:
            print(
                f"{len(report.orphans)} stored originals are not in the catalog yet (an interrupted ingest; "
                "ingest the same files again to adopt them)"
            )
        if removed:
            print(f"removed {len(removed)} volume generations a killed build left behind")
        if report.orphan_volumes:
            print(
                f"{len(report.orphan_volumes)} volume generations are not in the catalog (a volume build that was "
                "killed, or one under way; pacslab verify --repair removes those unchanged for --orphan-age)"
            )
        if report.pending:
            print(f"{len(report.pending)} series wait for their volumes (pacslab verify --repair builds them)")
    return 0 if report.ok else 1
