"""Where the archive keeps its bytes: the originals, through fsspec."""

from __future__ import annotations

from pacslab.storage._fs import is_local, join, open_filesystem, write_atomic
from pacslab.storage._originals import Codec, OriginalStore, decode_blob, encode_blob

__all__ = [
    "Codec",
    "OriginalStore",
    "decode_blob",
    "encode_blob",
    "is_local",
    "join",
    "open_filesystem",
    "write_atomic",
]
