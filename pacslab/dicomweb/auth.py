"""Bearer tokens with roles (read < write < admin), kept hashed in the catalog's ``tokens`` table.

A token is shown once, when it is created (``pacslab token create ROOT --role read``);
the catalog keeps only its SHA-256. A request presents it as
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import hashlib
import hmac
import secrets
import threading
import time
from typing import TYPE_CHECKING

from pacslab.errors import AccessDeniedError

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = [
    "AuthenticationError",
    "create_token",
    "Principal",
    "RoleValues",
    "TokenStore",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""
_PREFIX = "pl_"


class AuthenticationError(AccessDeniedError):
    """No credentials, or credentials that are not valid (HTTP 401)."""


class RoleValues(enum.StrEnum):
    """What a token may do: ``read`` (QIDO, WADO), ``write`` (+ STOW), ``admin`` (+ DELETE, configuration)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Order of the roles: each one allows what the ones below it do."""
        return (RoleValues.READ, RoleValues.WRITE, RoleValues.ADMIN).index(self)

    def allows(self, needed: RoleValues | str) -> bool:
        """Whether this role may do what *needed* may."""
        return self.rank >= RoleValues(needed).rank


@dataclasses.dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name and role, a Jupyter user, or ``anonymous``."""

    name: str
    role: RoleValues

    @property
    def actor(self) -> str:
        """How the audit table names the caller."""
        return f"{self.name} ({self.role.value})"

    def require(self, needed: RoleValues | str, what: str) -> None:
        """Raise :class:`AccessDeniedError` unless this principal's role allows *needed*."""
        if not self.role.allows(needed):
            raise AccessDeniedError(
                f"{what} needs the {RoleValues(needed).value!r} role; this token has {self.role.value!r}. "
                f"Create one with `pacslab token create ROOT --role {RoleValues(needed).value}`."
            )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class TokenStore:
    """The ``tokens`` table of an archive's catalog, with a short in-memory cache of checked tokens.

    Parameters
    ----------
    archive : Archive
    cache_seconds : float
        How long a checked token is trusted without asking the catalog again
        (a revoked token keeps working at most this long).
    """

    def __init__(self, archive: Archive, *, cache_seconds: float = 30.0) -> None:
        self.catalog = archive.catalog
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        with self.catalog.transaction() as db:
            db.execute(_SCHEMA)

    def create(self, name: str, role: RoleValues | str) -> str:
        """Create a token; returns its secret (the only time it is visible)."""
        role = RoleValues(role)
        if not name.strip():
            raise ValueError("A token needs a non-empty name (who or what uses it).")
        token = _PREFIX + secrets.token_urlsafe(32)
        with self.catalog.transaction() as db:
            db.execute(
                "INSERT INTO tokens (name, role, token_sha256, created_at) VALUES (?,?,?,?)",
                (name, role.value, _hash(token), _now()),
            )
        return token

    def revoke(self, name: str) -> int:
        """Revoke every token of *name*; returns how many."""
        with self.catalog.transaction() as db:
            n = db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (_now(), name)
            ).rowcount
        with self._lock:
            self._cache.clear()
        return int(n)

    def list(self) -> list[dict[str, str | None]]:
        """Names, roles and dates of the tokens (never the secrets)."""
        with self.catalog.transaction() as db:
            rows = db.execute("SELECT name, role, created_at, revoked_at FROM tokens ORDER BY id").fetchall()
        return [dict(zip(("name", "role", "created_at", "revoked_at"), r, strict=True)) for r in rows]

    def cached(self, token: str) -> Principal | None:
        """The principal of a token checked less than *cache_seconds* ago, else ``None`` (no catalog access)."""
        digest = _hash(token)
        with self._lock:
            hit = self._cache.get(digest)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def authenticate(self, token: str) -> Principal:
        """The principal a token stands for.

        Raises
        ------
        AuthenticationError
            The token is unknown or revoked.
        """
        hit = self.cached(token)
        if hit is not None:
            return hit
        digest = _hash(token)
        now = time.monotonic()
        with self.catalog.transaction() as db:
            row = db.execute(
                "SELECT name, role, token_sha256 FROM tokens WHERE token_sha256 = ? AND revoked_at IS NULL", (digest,)
            ).fetchone()
        if row is None or not hmac.compare_digest(row[2], digest):
            raise AuthenticationError("The bearer token is not valid (unknown or revoked).")
        principal = Principal(row[0], RoleValues(row[1]))
        with self._lock:
            self._cache[digest] = (principal, now + self.cache_seconds)
        return principal


def create_token(archive: Archive, *, role: RoleValues | str = RoleValues.READ, name: str | None = None) -> str:
    """Create a bearer token for the DICOMweb server of *archive*; returns the secret.

    Examples
    --------
    >>> token = create_token(archive, role="read", name="notebook")  # doctest: +SKIP
    >>> DICOMwebClient(url, headers={"Authorization": f"Bearer {token}"})  # doctest: +SKIP
    """
    role = RoleValues(role)
    return TokenStore(archive).create(name or f"{role.value}-token", role)
