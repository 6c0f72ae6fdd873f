"""DIMSE settings: this AE, remote AEs, the allow-list and TLS, resolved from every place they can be set.

Precedence, highest first: an explicit argument (or CLI flag); ``pacslab.config`` when it
differs from the packaged default (``PACSLAB_DIMSE__AE_TITLE=…`` or ``config.set``); the
``dimse:`` section of the archive's own ``ROOT/pacslab.yaml``; the packaged default.
"""

from __future__ import annotations

import dataclasses
import os
import re
import ssl
from collections.abc import Mapping
from typing import Any

from pacslab.config import _DEFAULTS, config

__all__ = ["DimseSettings", "RemoteAE", "TLSSettings", "resolve_remote"]

_AE_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # default repertoire without backslash
_DEFAULT = _DEFAULTS["dimse"]


def _norm(key: str) -> str:
    return key.replace("_", "-").lower()


def _normalised(section: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (section or {}).items():
        name = _norm(str(key))
        out[name] = _normalised(value) if isinstance(value, Mapping) and name != "remotes" else value
    return out


def _pick(key: str, override: Any, archive_section: Mapping[str, Any]) -> Any:
    """The value of ``dimse.<key>`` by the precedence of this module's docstring."""
    if override is not None:
        return override
    configured = config.get(f"dimse.{key}", None)
    default: Any = _DEFAULT
    for part in key.split("."):
        default = default.get(part) if isinstance(default, Mapping) else None
    if configured != default:
        return configured
    value: Any = archive_section
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return default if value is None else value


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"dimse.{key} must be true or false, not {value!r}.")
    return bool(value)


def check_ae_title(title: str, *, what: str = "AE title") -> str:
    """Validate an AE title (PS3.5 6.2: 1–16 characters of the default repertoire, no backslash)."""
    if not isinstance(title, str) or not _AE_RE.match(title) or not title.strip():
        raise ValueError(
            f"The {what} {title!r} is not valid: use 1 to 16 printable ASCII characters without a backslash, "
            "e.g. 'PACSLAB'."
        )
    return title.strip()


@dataclasses.dataclass(frozen=True)
class TLSSettings:
    """DICOM TLS: certificate files (PEM) and how peers are checked.

    Attributes
    ----------
    certificate, private_key : str or None
        This AE's certificate chain and key. A server needs both; a client sends them
        when given (mutual TLS).
    ca_certificates : str or None
        CA bundle that peers' certificates must chain to (the system store when None).
    require_client_certificate : bool
        Server side: refuse clients that present no valid certificate.
    check_hostname : bool
        Client side: also match the server certificate against the host name.
    """

    certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    require_client_certificate: bool = True
    check_hostname: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TLSSettings:
        """Build from a ``tls:`` config mapping (hyphenated or underscored keys)."""
        d = _normalised(data)
        unknown = set(d) - {
            "enabled",
            "certificate",
            "private-key",
            "ca-certificates",
            "require-client-certificate",
            "check-hostname",
        }
        if unknown:
            raise ValueError(
                f"Unknown dimse.tls settings {sorted(unknown)}; valid ones are enabled, certificate, private-key, "
                "ca-certificates, require-client-certificate, check-hostname."
            )
        return cls(
            certificate=d.get("certificate"),
            private_key=d.get("private-key"),
            ca_certificates=d.get("ca-certificates"),
            require_client_certificate=bool(d.get("require-client-certificate", True)),
            check_hostname=bool(d.get("check-hostname", False)),
        )

    def _check_files(self, *names: str) -> None:
        for name in names:
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"The TLS {name.replace('_', ' ')} file {path!r} does not exist.")

    def server_context(self) -> ssl.SSLContext:
        """An :class:`ssl.SSLContext` for accepting associations."""
        if not self.certificate:
            raise ValueError("DICOM TLS needs dimse.tls.certificate (and private-key) to accept associations.")
        self._check_files("certificate", "private_key", "ca_certificates")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=self.ca_certificates)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.certificate, self.private_key)
        context.verify_mode = ssl.CERT_REQUIRED if self.require_client_certificate else ssl.CERT_OPTIONAL
        return context

    def client_context(self) -> ssl.SSLContext:
        """An :class:`ssl.SSLContext` for requesting associations."""
        self._check_files("certificate", "private_key", "ca_certificates")
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_certificates)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = self.check_hostname
        if self.certificate:
            context.load_cert_chain(self.certificate, self.private_key)
        return context


@dataclasses.dataclass(frozen=True)
class RemoteAE:
    """A remote DICOM application entity.

    Parameters
    ----------
    ae_title : str
        Its AE title (the *called* AE title when we associate with it).
    host : str
        Host name or address.
    port : int
        TCP port.
    tls : bool
        Associate over DICOM TLS (with this archive's ``dimse.tls`` certificates).
    name : str, optional
        The name it has in the ``dimse.remotes`` configuration.

    Examples
    --------
    >>> RemoteAE.parse("ORTHANC@127.0.0.1:4242")
    RemoteAE(ae_title='ORTHANC', host='127.0.0.1', port=4242, tls=False, name=None)
    """

    ae_title: str
    host: str
    port: int
    tls: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        check_ae_title(self.ae_title, what="remote AE title")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"The port {self.port!r} of remote AE {self.ae_title!r} is not in 1–65535.")

    @classmethod
    def parse(cls, text: str) -> RemoteAE:
        """Parse ``"AET@host:port"`` (``"AET@host:port?tls"`` for TLS)."""
        match = re.fullmatch(r"(?P<ae>[^@]{1,16})@(?P<host>\[[^\]]+\]|[^:]+):(?P<port>\d+)(?P<tls>\?tls)?", text)
        if match is None:
            raise ValueError(
                f"{text!r} is not a remote AE: give 'AET@host:port' (e.g. 'ORTHANC@127.0.0.1:4242') "
                "or the name of a remote in dimse.remotes."
            )
        return cls(match["ae"], match["host"].strip("[]"), int(match["port"]), tls=bool(match["tls"]))

    @classmethod
    def from_dict(cls, name: str | None, data: Mapping[str, Any]) -> RemoteAE:
        """Build from one ``dimse.remotes`` entry."""
        d = _normalised(data)
        try:
            return cls(str(d["ae-title"]), str(d.get("host", "127.0.0.1")), int(d["port"]), bool(d.get("tls")), name)
        except KeyError as exc:
            raise ValueError(
                f"The remote {name!r} in dimse.remotes lacks {exc.args[0]!r}; give ae-title, host and port."
            ) from None

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}" + ("?tls" if self.tls else "")


@dataclasses.dataclass(frozen=True)
class DimseSettings:
    """Everything the DIMSE server and clients need, resolved once.

    Use :meth:`resolve`; every attribute mirrors one ``dimse.*`` key of ``pacslab.yaml``.
    """

    ae_title: str = "PACSLAB"
    host: str = "127.0.0.1"
    port: int = 11112
    stable_delay: float = 10.0
    allowed_aes: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    remotes: Mapping[str, RemoteAE] = dataclasses.field(default_factory=dict)
    max_pdu: int = 0
    max_associations: int = 16
    acse_timeout: float = 30.0
    dimse_timeout: float = 60.0
    network_timeout: float = 120.0
    tls: TLSSettings | None = None
    spool: bool = True
    spool_fsync: bool = False
    spool_query_wait: float = 10.0

    @classmethod
    def resolve(cls, archive_settings: Mapping[str, Any] | None = None, **overrides: Any) -> DimseSettings:
        """Resolve settings from overrides, ``pacslab.config`` and an archive's own settings.

        Parameters
        ----------
        archive_settings : mapping, optional
            The archive's ``pacslab.yaml`` (``archive.settings``); its ``dimse:`` section is used.
        **overrides
            Attribute values that win over everything (None means "not given").

        Raises
        ------
        ValueError
            For an unknown key or an invalid value.
        """
        section = _normalised((archive_settings or {}).get("dimse") or {})
        valid = {_norm(f.name) for f in dataclasses.fields(cls)} | {"tls"}
        unknown = set(section) - valid
        if unknown:
            raise ValueError(
                f"Unknown settings {sorted(unknown)} in the dimse: section of the archive's pacslab.yaml; "
                f"valid ones are {', '.join(sorted(valid))}."
            )
        bad = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if bad:
            raise ValueError(f"Unknown DIMSE settings {sorted(bad)}.")
        get = lambda key: _pick(key, overrides.get(key.replace("-", "_")), section)  # noqa: E731
        remotes: dict[str, RemoteAE] = {}
        for source in (section.get("remotes") or {}, config.get("dimse.remotes", None) or {}):
            for name, entry in source.items():
                remotes[str(name)] = entry if isinstance(entry, RemoteAE) else RemoteAE.from_dict(str(name), entry)
        if overrides.get("remotes"):
            remotes.update(overrides["remotes"])
        tls = overrides.get("tls")
        if tls is None:
            tls_section = {**_DEFAULT["tls"], **_normalised(section.get("tls") or {})}
            for key in list(tls_section):
                tls_section[key] = _pick(f"tls.{key}", None, {"tls": tls_section})
            tls = TLSSettings.from_dict(tls_section) if tls_section.get("enabled") else None
        elif tls is False:
            tls = None
        port = int(get("port"))
        if not 0 <= port < 65536:
            raise ValueError(f"dimse.port {port!r} is not a TCP port (0–65535; 0 picks a free one).")
        delay = float(get("stable-delay"))
        if delay < 0:
            raise ValueError(f"dimse.stable-delay must be zero or more seconds, not {delay!r}.")
        query_wait = float(get("spool-query-wait"))
        if query_wait < 0:
            raise ValueError(f"dimse.spool-query-wait must be zero or more seconds, not {query_wait!r}.")
        return cls(
            ae_title=check_ae_title(str(get("ae-title"))),
            host=str(get("host")),
            port=port,
            stable_delay=delay,
            allowed_aes=tuple(check_ae_title(str(a), what="allowed AE title") for a in (get("allowed-aes") or ())),
            allowed_hosts=tuple(str(h) for h in (get("allowed-hosts") or ())),
            remotes=remotes,
            max_pdu=int(get("max-pdu")),
            max_associations=int(get("max-associations")),
            acse_timeout=float(get("acse-timeout")),
            dimse_timeout=float(get("dimse-timeout")),
            network_timeout=float(get("network-timeout")),
            tls=tls,
            spool=_bool(get("spool"), "spool"),
            spool_fsync=_bool(get("spool-fsync"), "spool-fsync"),
            spool_query_wait=query_wait,
        )

    def remote_by_ae_title(self, ae_title: str) -> RemoteAE | None:
        """The configured remote with this AE title (C-MOVE destinations), if any."""
        for remote in self.remotes.values():
            if remote.ae_title == ae_title.strip():
                return remote
        return None


def resolve_remote(remote: RemoteAE | str | tuple[str, str, int], settings: DimseSettings | None = None) -> RemoteAE:
    """Turn a remote given in any accepted form into a :class:`RemoteAE`.

    Parameters
    ----------
    remote : RemoteAE, str or tuple
        A :class:`RemoteAE`; the name of a configured remote; ``"AET@host:port"``; or
        ``(ae_title, host, port)``.
    settings : DimseSettings, optional
        Where named remotes are looked up (``DimseSettings.resolve()`` when None).

    Raises
    ------
    ValueError
        The remote is neither a known name nor ``AET@host:port``.
    """
    if isinstance(remote, RemoteAE):
        return remote
    if isinstance(remote, tuple):
        ae_title, host, port = remote
        return RemoteAE(str(ae_title), str(host), int(port))
    settings = settings or DimseSettings.resolve()
    if remote in settings.remotes:
        return settings.remotes[remote]
    if "@" in remote:
        return RemoteAE.parse(remote)
    known = ", ".join(sorted(settings.remotes)) or "none are configured"
    raise ValueError(
        f"There is no remote AE named {remote!r} (known: {known}); give 'AET@host:port' or add it to "
        "dimse.remotes in the archive's pacslab.yaml."
    )
