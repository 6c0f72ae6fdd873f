"""``pacslab init ROOT [--catalog PATH]`` — create an empty archive."""

from __future__ import annotations

import argparse
import os

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``init``."""
    p = subparsers.add_parser("init", help="create an empty archive")
    p.add_argument("root", help="archive folder or fsspec URL (s3://bucket/archive, …)")
    p.add_argument(
        "--catalog",
        metavar="PATH",
        help="the SQLite catalog file (default: catalog.sqlite inside a local ROOT); "
        "required for archives on object storage",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Create the archive."""
    from pacslab.archive import init_archive

    catalog = os.path.abspath(os.path.expanduser(args.catalog)) if args.catalog else None
    archive = init_archive(args.root, catalog=catalog)
    print(f"created an empty archive at {archive.url}" + (f" (catalog {catalog})" if catalog else ""))
    archive.close()
    return 0
