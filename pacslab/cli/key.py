"""``pacslab key create FILE`` / ``pacslab key id FILE`` — encryption keys of archives' originals."""

from __future__ import annotations

import argparse

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``key``."""
    p = subparsers.add_parser(
        "key",
        help="create an encryption key file, or show a key file's id",
        description="A key file holds a random AES-256 key as base64, readable by its owner only. Keep it off the "
        "archive's disk and back it up: encrypted originals cannot be read without it. Use it with "
        "`pacslab init ROOT --encrypt --key-file FILE`.",
    )
    p.add_argument("action", choices=("create", "id"))
    p.add_argument("file", help="the key file (create never overwrites one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Create a key file or print its id."""
    from pacslab.storage import read_key_file, write_key_file

    key = write_key_file(args.file) if args.action == "create" else read_key_file(args.file)
    print(f"{'created ' + args.file + ' with key ' if args.action == 'create' else ''}{key.key_id}")
    return 0
