"""Where the archive keeps its bytes: the originals, through fsspec (encrypted at rest when configured)."""

from __future__ import annotations

from pacslab.storage._crypto import Encryption, EncryptionKey, read_key_file, write_key_file
from pacslab.storage._fs import is_local, join, open_filesystem, write_atomic
from pacslab.storage._originals import (
    WHOLE_FILE_CODECS,
    Codec,
    OriginalStore,
    check_sha256,
    decode_blob,
    encode_blob,
    sha256_hex,
)

__all__ = [
    "WHOLE_FILE_CODECS",
    "Codec",
    "Encryption",
    "EncryptionKey",
    "OriginalStore",
    "check_sha256",
    "decode_blob",
    "encode_blob",
    "is_local",
    "join",
    "open_filesystem",
    "read_key_file",
    "sha256_hex",
    "write_atomic",
    "write_key_file",
]
