"""``pacslab audit ROOT`` — who did what, when, from where, to which UIDs: the archive's audit table."""

from __future__ import annotations

import argparse
import sys

from pacslab.cli.main import print_table

__all__ = ["add_subparser"]

COLUMNS = ["id", "time", "actor", "address", "action", "service", "uids", "count", "outcome", "detail"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``audit``."""
    p = subparsers.add_parser(
        "audit",
        help="show or export the audit table (queries, retrieves, views, exports, deletes, associations)",
        description="Entries are append-only. Filters combine with AND; --format csv/json with -o exports them.",
    )
    p.add_argument("root", help="archive folder or URL")
    p.add_argument("--action", help="e.g. query, retrieve, view, export, delete, association, store, reidentify")
    p.add_argument("--actor", help="who: a token's name, an AE title, a user (* and ? wildcards)")
    p.add_argument("--outcome", help="success, failure, partial, denied, rejected, aborted")
    p.add_argument("--uid", help="entries that name this Study/Series/SOP Instance UID")
    p.add_argument("--since", help="from this date or time on (YYYY-MM-DD or ISO 8601, UTC)")
    p.add_argument("--until", help="up to this date or time, inclusive (YYYY-MM-DD or ISO 8601, UTC)")
    p.add_argument("--limit", type=int, help="the newest N entries only")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print (or write) the matching entries, oldest first."""
    from pacslab.archive import open_archive

    with open_archive(args.root) as archive:
        try:
            log = archive.audit_log(
                action=args.action,
                actor=args.actor,
                outcome=args.outcome,
                uid=args.uid,
                since=args.since,
                until=args.until,
                limit=args.limit,
            )
        except ValueError as exc:  # a filter that is not a date, UID, …: say which
            print(f"pacslab audit: {exc}", file=sys.stderr)
            return 2
    if args.format == "table" and not args.output:
        print_table(log[[c for c in COLUMNS if c in log.columns and c != "detail"]], as_json=False)
        return 0
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.format == "json":
            out.write(log.to_json(orient="records", indent=1) + "\n")
        else:
            log.to_csv(out, index=False)
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"{len(log)} audit entries written to {args.output}")
    return 0
