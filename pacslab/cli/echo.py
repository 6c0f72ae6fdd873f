"""``pacslab echo REMOTE`` — check that a remote AE answers (C-ECHO)."""

from __future__ import annotations

import argparse

from pacslab.cli._dimse import add_remote_arguments, archive_of

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``echo``."""
    p = subparsers.add_parser("echo", help="C-ECHO a remote AE")
    add_remote_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Echo and print the round trip."""
    from pacslab.dimse import echo

    seconds = echo(args.remote, calling_ae_title=args.calling_ae_title, archive=archive_of(args))
    print(f"{args.remote}: C-ECHO succeeded in {seconds * 1000:.1f} ms")
    return 0
