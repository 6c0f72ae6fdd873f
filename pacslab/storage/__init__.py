"""Where the archive keeps its bytes: the originals, through fsspec."""

from __future__ import annotations

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
    "OriginalStore",
    "check_sha256",
    "decode_blob",
    "encode_blob",
    "is_local",
    "join",
    "open_filesystem",
    "sha256_hex",
    "write_atomic",
]
