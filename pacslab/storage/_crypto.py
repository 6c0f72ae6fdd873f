"""Encryption at rest of originals: AES-256-GCM envelopes around the stored (compressed) bytes.

An archive is encrypted when its ``pacslab.yaml`` names a key, written there by
``pacslab init ROOT --encrypt`` (or :meth:`OriginalStore.enable_encryption`)::

    storage:
      encryption-key-id: 5f0c2a9e81b7d463      # which key seals this archive's originals
      encryption-key-file: /secure/pacs.key    # optional: where that key is

The key itself is never in the archive. It is looked up, first found wins, in
``storage.encryption-key`` (the key as base64, e.g. ``PACSLAB_STORAGE__ENCRYPTION_KEY``),
``storage.encryption-key-file`` (``PACSLAB_STORAGE__ENCRYPTION_KEY_FILE``, or ``config.set``)
and the ``encryption-key-file`` of the archive's ``pacslab.yaml``. A key file holds the
32 key bytes as one line of base64 (``pacslab key create FILE`` makes one, readable by
its owner only).

Every blob under ``originals/`` then rests as an envelope::

    magic "PACSLABE" (8) | version 1 (1) | key id (8) | nonce (12) | ciphertext + GCM tag (16)

The ciphertext is that of the blob as the codec left it (compression before
encryption). The header and the blob's storage key are authenticated data, so a
blob altered, moved to another name, or sealed under another key never decrypts.
Nonces are random (96 bits): keep one key below about 2**32 blobs. Hashes in the
catalog remain those of the plaintext files, so ``Archive.verify`` checks them as
before (with the key).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import os
from collections.abc import Mapping
from typing import Any

from pacslab.config import config
from pacslab.errors import DecryptionError, EncryptionKeyError

__all__ = [
    "ENVELOPE_MAGIC",
    "Encryption",
    "EncryptionKey",
    "check_key_location",
    "is_envelope",
    "key_to_encrypt",
    "open_envelope",
    "read_key_file",
    "seal_envelope",
    "write_key_file",
]

#: First bytes of every encrypted blob.
ENVELOPE_MAGIC = b"PACSLABE"
ENVELOPE_VERSION = 1
KEY_SIZE = 32
_KEY_ID_SIZE = 8
_NONCE_SIZE = 12
_TAG_SIZE = 16
_HEADER_SIZE = len(ENVELOPE_MAGIC) + 1 + _KEY_ID_SIZE
#: How to configure the key, for error messages.
KEY_HELP = (
    "set storage.encryption-key-file to the key file (PACSLAB_STORAGE__ENCRYPTION_KEY_FILE=/path/to/key, or "
    "encryption-key-file: in the storage: section of the archive's pacslab.yaml), or PACSLAB_STORAGE__ENCRYPTION_KEY "
    "to the base64 key"
)


@dataclasses.dataclass(frozen=True, repr=False)
class EncryptionKey:
    """A 256-bit AES key and its public identifier.

    Attributes
    ----------
    secret : bytes
        The 32 key bytes (never shown by ``repr``).
    key_id : str
        16 hex digits derived from the key (a one-way hash): archives record it to
        recognise their key without holding it.
    """

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_SIZE:
            raise EncryptionKeyError(f"An AES-256 key has {KEY_SIZE} bytes, not {len(self.secret)}.")

    @classmethod
    def generate(cls) -> EncryptionKey:
        """A new random key (from the operating system's CSPRNG)."""
        return cls(os.urandom(KEY_SIZE))

    @classmethod
    def from_text(cls, text: str, *, source: str) -> EncryptionKey:
        """Parse the base64 form of a key; *source* names where it came from, for errors."""
        try:
            secret = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            secret = b""
        if len(secret) != KEY_SIZE:
            raise EncryptionKeyError(
                f"{source} does not hold an encryption key: expected {KEY_SIZE} bytes as base64 (44 characters, "
                "as `pacslab key create FILE` writes)."
            )
        return cls(secret)

    def to_text(self) -> str:
        """The base64 form (what a key file holds)."""
        return base64.b64encode(self.secret).decode("ascii")

    @functools.cached_property
    def key_id(self) -> str:
        """16 hex digits that name the key (see the class docstring)."""
        return hashlib.sha256(b"pacslab encryption key id\x00" + self.secret).hexdigest()[: 2 * _KEY_ID_SIZE]

    @functools.cached_property
    def _aead(self) -> Any:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError as exc:
            raise EncryptionKeyError(
                "Encrypted archives need the cryptography package: pip install 'pacslab[crypto]'."
            ) from exc
        return AESGCM(self.secret)

    def __repr__(self) -> str:
        return f"<EncryptionKey id={self.key_id}>"


def read_key_file(path: str | os.PathLike[str]) -> EncryptionKey:
    """Read a key file (one line of base64).

    Raises
    ------
    EncryptionKeyError
        The file is missing, unreadable, or holds no key.
    """
    try:
        with open(os.path.expanduser(path), encoding="ascii") as fh:
            text = fh.read(1024)
    except (OSError, UnicodeDecodeError) as exc:
        raise EncryptionKeyError(
            f"The encryption key file {os.fspath(path)!r} cannot be read ({exc}); "
            "give the path of the archive's key (`pacslab key create FILE` makes a new one)."
        ) from exc
    return EncryptionKey.from_text(text, source=f"The key file {os.fspath(path)!r}")


def write_key_file(path: str | os.PathLike[str], key: EncryptionKey | None = None) -> EncryptionKey:
    """Write a new key file readable by its owner only (mode 0600); returns the key.

    Parameters
    ----------
    path : path-like
        Where; an existing file is never overwritten.
    key : EncryptionKey, optional
        The key to write (a new random one by default).

    Raises
    ------
    EncryptionKeyError
        *path* exists already.
    """
    key = key or EncryptionKey.generate()
    path = os.path.expanduser(os.fspath(path))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise EncryptionKeyError(
            f"The file {path!r} exists already; a key file is never overwritten (the originals it sealed would "
            "be lost): choose another path."
        ) from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.to_text() + "\n")
    return key


def key_to_encrypt(key_file: str | os.PathLike[str] | None, *, archive: str | None = None) -> EncryptionKey:
    """The key a new encrypted archive will use: that of *key_file*, else the configured one.

    Parameters
    ----------
    key_file : path-like, optional
        A key file.
    archive : str, optional
        The archive's local root: a key file inside it is refused.

    Raises
    ------
    EncryptionKeyError
        No key file given and none configured, an unreadable key, or a key file inside *archive*.
    """
    if key_file is None:
        if not (config.get("storage.encryption-key", None) or config.get("storage.encryption-key-file", None)):
            raise EncryptionKeyError(
                f"Encrypting the archive {archive or ''!r} needs a key: give a key file (`pacslab key create FILE` "
                f"makes one; then `pacslab init ROOT --encrypt --key-file FILE`), or {KEY_HELP}."
            )
        return Encryption(archive or "").key()
    check_key_location(key_file, archive=archive)
    return read_key_file(key_file)


def check_key_location(key_file: str | os.PathLike[str], *, archive: str | None) -> None:
    """Refuse a key file inside the (local) archive root it protects.

    Raises
    ------
    EncryptionKeyError
        *key_file* lies under *archive*.
    """
    if archive is None:
        return
    path, root = os.path.abspath(os.path.expanduser(key_file)), os.path.abspath(archive)
    if os.path.commonpath([path, root]) == root:
        raise EncryptionKeyError(
            f"The key file {os.fspath(key_file)!r} is inside the archive it would protect ({archive!r}): keep it "
            "elsewhere (another disk, a secrets store)."
        )


def is_envelope(blob: bytes) -> bool:
    """Whether *blob* is an encrypted envelope."""
    return blob[: len(ENVELOPE_MAGIC)] == ENVELOPE_MAGIC


def seal_envelope(key: EncryptionKey, data: bytes, *, name: str) -> bytes:
    """Encrypt *data* into an envelope bound to *name* (the blob's storage key)."""
    header = ENVELOPE_MAGIC + bytes([ENVELOPE_VERSION]) + bytes.fromhex(key.key_id)
    nonce = os.urandom(_NONCE_SIZE)
    return header + nonce + key._aead.encrypt(nonce, data, header + name.encode())


def open_envelope(key: EncryptionKey, blob: bytes, *, name: str) -> bytes:
    """Decrypt an envelope made by :func:`seal_envelope` for *name*.

    Raises
    ------
    DecryptionError
        *blob* is no envelope, was sealed under another key, or fails authentication
        (altered, truncated, or stored under another name).
    """
    from cryptography.exceptions import InvalidTag

    if not is_envelope(blob):
        raise DecryptionError(
            f"The original {name!r} is not encrypted although the archive is: it was not written by pacslab "
            "with this archive's key; run `pacslab verify` and restore it from a backup."
        )
    if len(blob) < _HEADER_SIZE + _NONCE_SIZE + _TAG_SIZE:
        raise DecryptionError(
            f"The original {name!r} is truncated ({len(blob)} bytes): run `pacslab verify` and restore it "
            "from a backup."
        )
    header, nonce = blob[:_HEADER_SIZE], blob[_HEADER_SIZE : _HEADER_SIZE + _NONCE_SIZE]
    if header[len(ENVELOPE_MAGIC)] != ENVELOPE_VERSION:
        raise DecryptionError(
            f"The original {name!r} is in encryption format {header[len(ENVELOPE_MAGIC)]}; this pacslab reads "
            f"format {ENVELOPE_VERSION}: upgrade pacslab."
        )
    sealed_by = header[len(ENVELOPE_MAGIC) + 1 :].hex()
    if sealed_by != key.key_id:
        raise DecryptionError(
            f"The original {name!r} was sealed under key {sealed_by}, not under the configured key {key.key_id}: "
            f"{KEY_HELP}."
        )
    try:
        return bytes(key._aead.decrypt(nonce, blob[_HEADER_SIZE + _NONCE_SIZE :], header + name.encode()))
    except InvalidTag:
        raise DecryptionError(
            f"The original {name!r} fails authentication under key {key.key_id}: it was altered or damaged; "
            "run `pacslab verify` and restore it from a backup."
        ) from None


@dataclasses.dataclass
class Encryption:
    """How one archive seals its originals: the key it records, and how that key is found.

    Use :meth:`from_settings`; the key is looked up when first needed, so an archive
    opens (and its catalog answers queries) without it.

    Attributes
    ----------
    archive : str
        The archive, for messages.
    key_id : str or None
        The id recorded in the archive's ``pacslab.yaml`` (None when only a key file is named there).
    key_file : str or None
        The ``encryption-key-file`` of the archive's ``pacslab.yaml``.
    """

    archive: str
    key_id: str | None = None
    key_file: str | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None, *, archive: str) -> Encryption | None:
        """The encryption of an archive from its ``pacslab.yaml`` mapping (None: not encrypted)."""
        section = {str(k).replace("_", "-"): v for k, v in ((settings or {}).get("storage") or {}).items()}
        key_id, key_file = section.get("encryption-key-id"), section.get("encryption-key-file")
        if key_id is None and key_file is None:
            return None
        return cls(archive, None if key_id is None else str(key_id), None if key_file is None else str(key_file))

    def key(self) -> EncryptionKey:
        """The archive's key, from config, the environment or its key file.

        Raises
        ------
        EncryptionKeyError
            No key is configured, it cannot be read, or it is not this archive's key.
        """
        text = config.get("storage.encryption-key", None)
        if text:
            key = EncryptionKey.from_text(str(text), source="storage.encryption-key (PACSLAB_STORAGE__ENCRYPTION_KEY)")
        else:
            path = config.get("storage.encryption-key-file", None) or self.key_file
            if not path:
                known = f" with key {self.key_id}" if self.key_id else ""
                raise EncryptionKeyError(
                    f"The originals of the archive {self.archive!r} are encrypted{known} and no key is configured: "
                    f"{KEY_HELP}."
                )
            key = _cached_key_file(os.path.abspath(os.path.expanduser(str(path))))
        if self.key_id is not None and key.key_id != self.key_id:
            raise EncryptionKeyError(
                f"The configured encryption key ({key.key_id}) is not the key of the archive {self.archive!r} "
                f"({self.key_id}), so its originals cannot be authenticated: {KEY_HELP}."
            )
        return key

    def seal(self, data: bytes, *, name: str) -> bytes:
        """Encrypt a blob stored as *name*."""
        return seal_envelope(self.key(), data, name=name)

    def open(self, blob: bytes, *, name: str) -> bytes:
        """Decrypt the blob stored as *name*."""
        return open_envelope(self.key(), blob, name=name)


def _cached_key_file(path: str) -> EncryptionKey:
    """:func:`read_key_file`, read again only when the file changes (one ``stat`` per use)."""
    try:
        stat = os.stat(path)
    except OSError:
        return read_key_file(path)  # raises with the reason
    return _read_key_file_version(path, stat.st_mtime_ns, stat.st_size, stat.st_ino)


@functools.lru_cache(maxsize=16)
def _read_key_file_version(path: str, mtime_ns: int, size: int, inode: int) -> EncryptionKey:
    return read_key_file(path)
