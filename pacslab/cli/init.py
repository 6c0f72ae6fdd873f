"""``pacslab init ROOT`` — create an empty archive."""

from __future__ import annotations

import argparse

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``init``."""
    p = subparsers.add_parser("init", help="create an empty archive")
    p.add_argument("root", help="archive folder or fsspec URL")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Create the archive."""
    from pacslab.archive import init_archive

    archive = init_archive(args.root)
    print(f"created an empty archive at {archive.url}")
    return 0
