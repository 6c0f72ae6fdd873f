"""``pacslab serve ROOT`` — run the archive's network services until interrupted."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``serve``."""
    p = subparsers.add_parser(
        "serve",
        help="serve the archive over DICOM (C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE) until Ctrl-C",
        description="Settings come from the dimse: section of ROOT/pacslab.yaml and PACSLAB_DIMSE__* "
        "environment variables; the flags below override both.",
    )
    p.add_argument("root", help="archive folder")
    p.add_argument("--ae-title", help="our AE title [dimse.ae-title, PACSLAB]")
    p.add_argument("--host", help="address to listen on [dimse.host, 127.0.0.1]")
    p.add_argument("--dicom-port", type=int, help="DICOM port [dimse.port, 11112]; 0 picks a free one")
    p.add_argument("--http-port", type=int, help="DICOMweb port (not served by this version)")
    p.add_argument("--stable-delay", type=float, help="seconds without new instances before volumes are built")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the DICOM server and block until interrupted."""
    from pacslab.archive import open_archive
    from pacslab.dimse import DicomServer

    if args.http_port is not None:
        print("pacslab serve: --http-port is ignored: this version serves DICOM (DIMSE) only", file=sys.stderr)
    archive = open_archive(args.root)
    server = DicomServer(
        archive, ae_title=args.ae_title, host=args.host, port=args.dicom_port, stable_delay=args.stable_delay
    )
    server.start()
    tls = " over TLS" if server.settings.tls else ""
    print(f"serving {archive.url} as {server.ae_title} on {server.host}:{server.port}{tls} (Ctrl-C to stop)",
          flush=True)  # fmt: skip
    try:
        server.serve_forever()
    finally:
        archive.close()
    return 0
