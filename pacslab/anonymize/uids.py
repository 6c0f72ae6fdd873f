"""Consistent replacement values: UIDs, patient pseudonyms and date shifts.

Every replacement is an HMAC-SHA256 of the original under the project's secret,
so the same input in the same project always gives the same output (instances
de-identified on different days still reference each other), different projects
give unrelated outputs, and nobody without the secret can recompute the mapping.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
from collections.abc import Callable

__all__ = ["Pseudonymizer", "STANDARD_UID_PREFIX"]

#: UIDs under this root are defined by the standard (SOP classes, transfer syntaxes,
#: well-known frames of reference and coding schemes) and identify nobody: kept as they are.
STANDARD_UID_PREFIX = "1.2.840.10008."

#: The largest date shift, in days, of Retain Longitudinal Temporal Information with Modified Dates.
MAX_SHIFT_DAYS = 3650

Recorder = Callable[[str, str, str], None]


class Pseudonymizer:
    """Project-scoped, keyed replacements for identifiers.

    Parameters
    ----------
    project : str
        The project name: the same secret in two projects still gives different outputs.
    secret : bytes or str
        The project secret (kept in the archive; see :func:`pacslab.anonymize.project_secret`).
    recorder : callable, optional
        Called as ``recorder(kind, original, replacement)`` for every replacement made,
        so a caller can keep the re-identification map.

    Examples
    --------
    >>> p = Pseudonymizer("trial", b"secret")
    >>> p.uid("1.2.3") == Pseudonymizer("trial", b"secret").uid("1.2.3")
    True
    >>> p.uid("1.2.3").startswith("2.25.")
    True
    """

    def __init__(self, project: str, secret: bytes | str, *, recorder: Recorder | None = None) -> None:
        if not secret:
            raise ValueError("A de-identification secret must not be empty.")
        self.project = project
        self._key = secret.encode() if isinstance(secret, str) else bytes(secret)
        self._recorder = recorder

    def _digest(self, kind: str, value: str) -> bytes:
        message = "\x1f".join((self.project, kind, value)).encode("utf-8", "surrogateescape")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _record(self, kind: str, original: str, replacement: str) -> str:
        if self._recorder is not None:
            self._recorder(kind, original, replacement)
        return replacement

    def uid(self, original: str) -> str:
        """The replacement of a UID: ``2.25.<128-bit integer>`` (PS3.5 B.2), at most 44 characters."""
        original = original.strip().rstrip("\x00")
        if not original or original.startswith(STANDARD_UID_PREFIX):
            return original
        number = int.from_bytes(self._digest("uid", original)[:16], "big")
        return self._record("uid", original, f"2.25.{number}")

    def patient_id(self, original: str) -> str:
        """A pseudonymous PatientID, 16 characters (LO)."""
        token = base64.b32encode(self._digest("PatientID", original.strip())).decode()[:13]
        return self._record("PatientID", original, f"PSN{token}")

    def patient_name(self, original: str, patient_id: str = "") -> str:
        """A pseudonymous PatientName, derived from the patient (PatientID when known)."""
        basis = patient_id.strip() or original.strip()
        token = base64.b32encode(self._digest("PatientName", basis)).decode()[:10]
        return self._record("PatientName", original, f"ANON^{token}")

    def date_shift(self, patient_id: str) -> _dt.timedelta:
        """The per-patient shift of dates: whole days, back by 1 to ``MAX_SHIFT_DAYS`` days."""
        days = int.from_bytes(self._digest("date-shift", patient_id.strip())[:4], "big") % MAX_SHIFT_DAYS + 1
        self._record("date-shift", patient_id, str(-days))
        return _dt.timedelta(days=-days)
