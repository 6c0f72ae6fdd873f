"""``pacslab serve ROOT`` — run the archive's network services until interrupted."""

from __future__ import annotations

import argparse

__all__ = ["add_subparser"]


def add_subparser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``serve``."""
    p = subparsers.add_parser(
        "serve",
        help="serve the archive over DICOM (DIMSE) and DICOMweb until Ctrl-C",
        description="Settings come from the dimse: section of ROOT/pacslab.yaml and PACSLAB_DIMSE__* "
        "environment variables (DICOM TLS: dimse.tls), HTTPS from dicomweb.tls (PACSLAB_DICOMWEB__TLS__CERTIFICATE, "
        "…__PRIVATE_KEY); the flags below override them.",
    )
    p.add_argument("root", help="archive folder")
    p.add_argument("--ae-title", help="our AE title [dimse.ae-title, PACSLAB]")
    p.add_argument("--host", help="address to listen on [dimse.host, 127.0.0.1]")
    p.add_argument("--dicom-port", type=int, help="DICOM port [dimse.port, 11112]; 0 picks a free one")
    p.add_argument("--http-port", type=int, default=8080, help="DICOMweb port [8080]; 0 picks a free one")
    p.add_argument("--no-http", action="store_true", help="do not serve DICOMweb")
    p.add_argument("--http-tls-cert", metavar="PEM",
                   help="serve DICOMweb over HTTPS with this certificate chain [dicomweb.tls.certificate]")  # fmt: skip
    p.add_argument("--http-tls-key", metavar="PEM",
                   help="the private key of --http-tls-cert [dicomweb.tls.private-key]")  # fmt: skip
    p.add_argument("--allow-anonymous", action="store_true",
                   help="DICOMweb without a token (read role), e.g. on a teaching laptop")  # fmt: skip
    p.add_argument("--stable-delay", type=float, help="seconds without new instances before volumes are built")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the DICOM and DICOMweb services and block until interrupted."""
    from pacslab._serving import serving_process
    from pacslab.archive import open_archive
    from pacslab.dimse import DicomServer

    archive = open_archive(args.root)
    serving_process()  # before any server thread starts (the archive's own settings read)
    if archive.originals.encryption is not None:
        archive.originals.encryption.key()  # no key (or a wrong one): say so now, not at the first C-STORE
    web = None
    if not args.no_http:
        from pacslab.dicomweb import DicomwebServer

        # the DICOM server's builder already builds every stable series, whatever brought it in
        web = DicomwebServer(archive, host=args.host, port=args.http_port, allow_anonymous=args.allow_anonymous,
                             stable_delay=None, tls_certificate=args.http_tls_cert,
                             tls_private_key=args.http_tls_key)  # fmt: skip
    server = DicomServer(
        archive, ae_title=args.ae_title, host=args.host, port=args.dicom_port, stable_delay=args.stable_delay
    )
    server.start()
    tls = " over TLS" if server.settings.tls else ""
    print(f"serving {archive.url} as {server.ae_title} on {server.host}:{server.port}{tls} (Ctrl-C to stop)",
          flush=True)  # fmt: skip
    if web is not None:
        web.start()
        print(f"DICOMweb at {web.url}", flush=True)
    try:
        server.serve_forever()
    finally:
        if web is not None:
            web.stop()
        archive.close()
    return 0
