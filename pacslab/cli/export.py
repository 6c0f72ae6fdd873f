"""``pacslab export ROOT UID -o DIR`` — the original files of a study, series or instance."""

from __future__ import annotations

import argparse

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``export``."""
    p = subparsers.add_parser("export", help="copy the original files of a study, series or instance")
    p.add_argument("root")
    p.add_argument("uid", help="a StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID")
    p.add_argument("-o", "--output", required=True, help="folder to write into")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export."""
    from pacslab.archive import open_archive

    paths = open_archive(args.root).export(args.uid, args.output)
    print(f"wrote {len(paths)} files under {args.output}")
    return 0
