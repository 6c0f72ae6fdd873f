"""``pacslab init ROOT [--catalog PATH] [--encrypt [--key-file FILE]]`` — create an empty archive."""

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
        metavar="PATH|URL",
        help="the SQLite catalog file (default: catalog.sqlite inside a local ROOT; required for archives on "
        "object storage), or a PostgreSQL database shared by several processes: postgresql://user@host:port/db",
    )
    p.add_argument(
        "--encrypt",
        action="store_true",
        help="encrypt the originals at rest (AES-256-GCM) with the key of --key-file, or the configured "
        "key (PACSLAB_STORAGE__ENCRYPTION_KEY_FILE / PACSLAB_STORAGE__ENCRYPTION_KEY)",
    )
    p.add_argument(
        "--key-file",
        metavar="FILE",
        help="with --encrypt: the key file, outside ROOT; created when missing, and named in ROOT/pacslab.yaml",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Create the archive."""
    from pacslab.archive import init_archive

    if args.key_file and not args.encrypt:
        print("pacslab init: --key-file goes with --encrypt", flush=True)
        return 2
    from pacslab.catalog import is_postgres_url

    catalog = args.catalog
    if catalog and not is_postgres_url(catalog):
        catalog = os.path.abspath(os.path.expanduser(catalog))
    if args.encrypt:
        _prepare_key(args.root, args.key_file)
    archive = init_archive(args.root, catalog=catalog)
    try:
        encrypted = ""
        if args.encrypt:
            key_id = archive.originals.enable_encryption(key_file=args.key_file)
            encrypted = f", originals encrypted with key {key_id}"
        print(f"created an empty archive at {archive.url}" + (f" (catalog {catalog})" if catalog else "") + encrypted)
    finally:
        archive.close()
    return 0


def _prepare_key(root: str, key_file: str | None) -> None:
    """Check the key (making a new key file if *key_file* does not exist) before anything is created."""
    from pacslab.storage import is_local, open_filesystem, write_key_file
    from pacslab.storage._crypto import check_key_location, key_to_encrypt

    fs, path = open_filesystem(root)
    local_root = path if is_local(fs) else None
    if key_file and not os.path.exists(os.path.expanduser(key_file)):
        check_key_location(key_file, archive=local_root)
        write_key_file(key_file)
        print(f"created the key file {key_file}: back it up, the originals cannot be read without it", flush=True)
    key_to_encrypt(key_file, archive=local_root)
