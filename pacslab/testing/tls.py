"""Throw-away TLS certificates for tests of DICOM TLS and HTTPS on loopback (needs ``cryptography``).

:func:`write_test_pki` makes a CA and a server and a client certificate it signed, valid
for ``127.0.0.1`` and ``localhost`` for two days. Never use them outside tests.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from typing import Any

__all__ = ["write_test_pki"]

_NAMES = ("server", "client")


def _modules() -> Any:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:
        raise ImportError("Test certificates need the cryptography package: pip install 'pacslab[crypto]'.") from exc
    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def write_test_pki(directory: str | os.PathLike[str], *, days: int = 2) -> dict[str, str]:
    """Write a test CA, and server and client certificates signed by it, as PEM files.

    Parameters
    ----------
    directory : path-like
        Where the files go (created if needed).
    days : int
        Validity of every certificate.

    Returns
    -------
    dict
        File name → path: ``ca.crt``, ``ca.key``, ``server.crt``, ``server.key``,
        ``client.crt``, ``client.key``. Server and client certificates name ``127.0.0.1``
        and ``localhost``; keys are unencrypted P-256 keys.

    Examples
    --------
    >>> files = write_test_pki(tmp_path)  # doctest: +SKIP
    >>> server = DicomwebServer(  # doctest: +SKIP
    ...     archive, tls_certificate=files["server.crt"], tls_private_key=files["server.key"]
    ... )
    """
    x509, hashes, serialization, ec, eku, name_oid = _modules()
    os.makedirs(directory, exist_ok=True)
    now = _dt.datetime.now(_dt.UTC) - _dt.timedelta(minutes=5)
    out: dict[str, str] = {}

    def save(name: str, key: Any, cert: Any) -> None:
        pem_key = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        for suffix, data in ((".key", pem_key), (".crt", cert.public_bytes(serialization.Encoding.PEM))):
            path = os.path.join(os.fspath(directory), name + suffix)
            with open(path, "wb") as fh:
                fh.write(data)
            out[name + suffix] = path

    def builder(subject: str, issuer: Any, public_key: Any) -> Any:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(name_oid.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + _dt.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(name_oid.COMMON_NAME, "pacslab test CA")])
    ca_cert = (
        builder("pacslab test CA", ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    save("ca", ca_key, ca_cert)
    authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    alt_names = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    for name in _NAMES:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = eku.SERVER_AUTH if name == "server" else eku.CLIENT_AUTH
        cert = (
            builder(name, ca_name, key.public_key())
            .add_extension(authority, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(alt_names, critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        save(name, key, cert)
    return out
