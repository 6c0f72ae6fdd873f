"""``pacslab demo DIR`` — write the synthetic demo studies (no downloads)."""

from __future__ import annotations

import argparse

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``demo``."""
    p = subparsers.add_parser("demo", help="write synthetic demo studies (CT, MR, DX, multi-frame, oblique)")
    p.add_argument("directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--benchmark", action="store_true", help="the ~1,500-file / ~600 MB benchmark set instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the files."""
    from pacslab import examples

    if args.benchmark:
        paths = examples.write_benchmark_set(args.directory, seed=args.seed)
    else:
        paths = examples.write_demo_archive_input(args.directory, seed=args.seed)
    print(f"wrote {len(paths)} files under {args.directory}")
    return 0
