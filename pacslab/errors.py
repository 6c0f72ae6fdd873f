"""The pacslab exception and warning hierarchy.

Every error pacslab raises derives from :class:`PacslabError`, with a builtin
mix-in so that ``except ValueError`` / ``except LookupError`` keep working.
"""

from __future__ import annotations

import errno

__all__ = [
    "AccessDeniedError",
    "ArchiveExistsError",
    "ArchiveNotFoundError",
    "CatalogError",
    "ConflictError",
    "DecryptionError",
    "EncryptionError",
    "EncryptionKeyError",
    "GeometryError",
    "InvalidDicomInputError",
    "NonconformantDataWarning",
    "NotFoundError",
    "PacslabError",
    "PacslabWarning",
    "RemoteError",
    "SeriesNotFoundError",
    "StorageError",
    "StudyNotFoundError",
    "InstanceNotFoundError",
    "VolumeNotFoundError",
    "is_out_of_space",
]


class PacslabError(Exception):
    """Base class of every error raised by pacslab."""


class NotFoundError(PacslabError, LookupError):
    """Something asked for by identifier is not in the archive."""


class ArchiveNotFoundError(NotFoundError, FileNotFoundError):
    """No archive at the given root (use ``create=True`` or ``pacslab init``)."""


class ArchiveExistsError(PacslabError, FileExistsError):
    """An archive already exists where a new one was to be created."""


class StudyNotFoundError(NotFoundError):
    """No study with that StudyInstanceUID."""


class SeriesNotFoundError(NotFoundError):
    """No series with that SeriesInstanceUID."""


class InstanceNotFoundError(NotFoundError):
    """No instance with that SOPInstanceUID."""


class VolumeNotFoundError(NotFoundError):
    """The series has no volume (not an image series, not decodable, or not built yet)."""


class InvalidDicomInputError(PacslabError, ValueError):
    """Input that is not DICOM, is truncated, or lacks what the archive needs."""


class GeometryError(PacslabError, ValueError):
    """Slices that do not form one regular stack."""


class CatalogError(PacslabError):
    """The catalog cannot do what was asked (integrity conflict, bad query)."""


class ConflictError(CatalogError):
    """An instance with the same SOPInstanceUID but different content exists."""


class StorageError(PacslabError, OSError):
    """Reading or writing the archive's storage failed, or content does not match its hash."""


class EncryptionError(PacslabError):
    """Encrypted originals cannot be read or written (see :mod:`pacslab.storage._crypto`)."""


class EncryptionKeyError(EncryptionError, PermissionError):
    """The key of an encrypted archive is not configured, cannot be read, or is not the archive's key."""


class DecryptionError(EncryptionError, StorageError):
    """An encrypted original fails authentication: altered, damaged, or sealed under another key."""


class AccessDeniedError(PacslabError, PermissionError):
    """The caller's role does not allow what was asked (e.g. re-identification needs ``admin``)."""


class RemoteError(PacslabError, ConnectionError):
    """A remote DICOM or DICOMweb peer failed or refused."""


class PacslabWarning(UserWarning):
    """Base class of pacslab's warnings."""


class NonconformantDataWarning(PacslabWarning):
    """Input that does not follow the standard but could still be used."""


#: errno values of a full file system or quota (EDQUOT is not on every platform)
_OUT_OF_SPACE = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def is_out_of_space(exc: BaseException) -> bool:
    """Whether *exc* is a full file system or quota (ENOSPC, EDQUOT): a want of space, not bad input."""
    return isinstance(exc, OSError) and exc.errno in _OUT_OF_SPACE
