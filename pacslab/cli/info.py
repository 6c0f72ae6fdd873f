"""``pacslab info ROOT`` — counts and sizes."""

from __future__ import annotations

import argparse

from pacslab.cli.main import print_table

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``info``."""
    p = subparsers.add_parser("info", help="what the archive holds")
    p.add_argument("root")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the archive's counts."""
    from pacslab.archive import open_archive

    info = open_archive(args.root).info()
    if args.json:
        print_table([info], as_json=True)
    else:
        for key, value in info.items():
            print(f"{key:>18}: {value}")
    return 0
