"""``pacslab analyze ROOT ANALYSIS [--KEYWORD VALUE ...] [--scheduler ADDRESS]`` — run a cohort analysis.

The series matching the DICOM filters are analysed in parallel with dask; results go
into the archive (measurements, label volumes, DICOM SEG) and a summary table is printed.
``pacslab analyze --list`` lists the analyses.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pacslab.cli.main import print_table
from pacslab.config import load_yaml
from pacslab.errors import CatalogError

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``analyze``."""
    p = subparsers.add_parser(
        "analyze",
        help="run an analysis over a cohort of series, in parallel with dask",
        description="Series are selected with DICOM filters (--Modality CT --PatientID 'PL*' …); "
        "analysis parameters are given with -p NAME=VALUE. Exit status is 1 when a series failed.",
    )
    p.add_argument("root", nargs="?", help="archive folder or URL")
    p.add_argument("analysis", nargs="?", help="analysis name (see --list)")
    p.add_argument("--list", action="store_true", help="list the analyses and exit")
    p.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an analysis parameter (VALUE is read as YAML: 50, -400.0, ct, [1, 2])",
    )
    p.add_argument("--scheduler", help="threads (default), local-cluster, or a scheduler address tcp://HOST:PORT")
    p.add_argument("--n-workers", type=int, help="workers of a local-cluster")
    p.add_argument("--batch-size", type=int, help="series computed at once (bounds memory)")
    p.add_argument("--no-seg", action="store_true", help="keep label volumes in Zarr only, no DICOM SEG")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    p.set_defaults(func=run)


def _parameters(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CatalogError(f"A parameter is NAME=VALUE, got {item!r}.")
        out[key.replace("-", "_")] = load_yaml(value)
    return out


def run(args: argparse.Namespace) -> int:
    """Run the analysis and print its summary."""
    from pacslab.analysis import list_analyses, run_cohort
    from pacslab.archive import open_archive
    from pacslab.cli.ls import _filters

    if args.list:
        print_table(list_analyses(), as_json=args.json)
        return 0
    if not args.root or not args.analysis:
        print("pacslab analyze: give ROOT and ANALYSIS (or --list)", file=sys.stderr)
        return 2
    archive = open_archive(args.root)
    try:
        result = run_cohort(
            archive,
            args.analysis,
            parameters=_parameters(args.param),
            scheduler=args.scheduler,
            n_workers=args.n_workers,
            batch_size=args.batch_size,
            save_seg=not args.no_seg,
            progress=not args.no_progress and sys.stderr.isatty(),
            **_filters(getattr(args, "filters", []) or []),  # type: ignore[arg-type]
        )
    except ValueError as exc:
        print(f"pacslab analyze: {exc}", file=sys.stderr)
        return 2
    if args.json:
        frame = result.measurements.drop(columns=["data"], errors="ignore")
        print(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "failed": result.failed,
                    "measurements": json.loads(frame.to_json(orient="records")),
                },
                indent=1,
            )
        )
    else:
        print(f"{result.analysis}: run {result.run_id}, {result.seconds:.1f} s on {result.scheduler}")
        if result.dashboard_link:
            print(f"dashboard: {result.dashboard_link}")
        summary = result.summary()
        if not summary.empty:
            summary = summary.assign(SeriesInstanceUID=summary["SeriesInstanceUID"].str[-24:])
        print_table(summary, as_json=False)
        for _, row in result.derived.iterrows():
            if row.get("SeriesInstanceUID"):
                print(f"SEG {row['SeriesInstanceUID']} of series {row['SourceSeriesInstanceUID']}")
    for uid, error in result.failed:
        print(f"failed {uid}: {error}", file=sys.stderr)
    return 1 if result.failed else 0
