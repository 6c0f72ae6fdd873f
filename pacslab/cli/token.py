"""``pacslab token create|list|revoke ROOT`` — bearer tokens of the DICOMweb server."""

from __future__ import annotations

import argparse
import getpass

from pacslab.cli.main import print_table

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``token``."""
    p = subparsers.add_parser(
        "token",
        help="create, list or revoke DICOMweb bearer tokens",
        description="Tokens are stored hashed in the archive's catalog; a new token is printed once, keep it.",
    )
    p.add_argument("action", choices=("create", "list", "revoke"))
    p.add_argument("root", help="archive folder")
    p.add_argument("--role", choices=("read", "write", "admin"), default="read",
                   help="read: QIDO/WADO; write: + STOW; admin: + DELETE [read]")  # fmt: skip
    p.add_argument("--name", help="who or what uses the token [your user name and the role]")
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Create (print the secret), list, or revoke tokens."""
    from pacslab.archive import open_archive
    from pacslab.dicomweb.auth import TokenStore

    with open_archive(args.root) as archive:
        store = TokenStore(archive)
        if args.action == "create":
            print(store.create(args.name or f"{getpass.getuser()}-{args.role}", args.role))
        elif args.action == "list":
            print_table(store.list(), as_json=args.json)
        else:
            if not args.name:
                print("pacslab token revoke: give --name of the tokens to revoke")
                return 2
            print(f"revoked {store.revoke(args.name)} token(s) named {args.name!r}")
    return 0
