"""Originals whose pixel data lives once, in the series' volume.

Uncompressed pixel data is most of an image file, and every image series is
also kept as a volume. Storing those pixels twice would double the archive, so
when volume building finds that an instance's pixel data is *exactly* the bytes
of the frames it just wrote (same dtype, same values, nothing after the pixel
data), the original is stored as the bytes before its pixel data (``pxr``
codec) plus a :class:`PixelRef` naming the volume frames. Reading it back
concatenates the two, which gives the file byte for byte (checked against its
SHA-256 before the whole-file copy is dropped, and by ``Archive.verify``).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from typing import Any

import fsspec
import numpy as np

from pacslab._lru import ByteBudgetCache
from pacslab.errors import StorageError
from pacslab.storage import OriginalStore, check_sha256, join
from pacslab.volumes._chunks import open_chunks
from pacslab.volumes.store import open_volume_group, volume_metadata

__all__ = ["PixelRef", "PixelSource"]

#: Heads files (one per volume generation) a :class:`PixelSource` keeps.
_HEAD_FILES = 8


@dataclasses.dataclass(frozen=True)
class PixelRef:
    """Where the pixel data of an original is: frames of one volume stack.

    Attributes
    ----------
    stack : int
        The stack (volume) of the series.
    frames : tuple of (int, int)
        ``(t, z)`` of each frame, in the file's frame order (``t`` is 0 for 3-D volumes).
    dtype : str
        NumPy dtype string of the pixel data as stored in the file (little endian).
    """

    stack: int
    frames: tuple[tuple[int, int], ...]
    dtype: str

    def to_json(self) -> str:
        """Serialise for the catalog."""
        return json.dumps({"stack": self.stack, "frames": [list(f) for f in self.frames], "dtype": self.dtype})

    @classmethod
    def from_json(cls, text: str) -> PixelRef:
        """Inverse of :meth:`to_json`."""
        d = json.loads(text)
        return cls(int(d["stack"]), tuple((int(t), int(z)) for t, z in d["frames"]), str(d["dtype"]))


class PixelSource:
    """Reads volume frames and whole originals, keeping the last used (up to *cache_bytes*), and heads files.

    Retrieving a whole series instance by instance then decodes each Zarr chunk once, not
    once per slice; an archive's own source, shared by its reads, keeps a series' blocks
    (or its whole originals, before its volume is built) for the next retrieval too
    (``volumes.cache-mb``). Volume generations are never reused, and a whole original's key
    names its content, so nothing kept goes stale.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
    root : str
        The archive root.
    cache_bytes : int
        Decoded blocks and whole originals kept, least recently used dropped first; the last one is kept
        whatever its size.
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str, *, cache_bytes: int = 32 << 20) -> None:
        self.fs, self.root = fs, root
        self._arrays: OrderedDict[str, Any] = OrderedDict()
        #: decoded blocks by (volume path, t, first z), whole originals by (key, -1, -1)
        self._kept: ByteBudgetCache[tuple[str, int, int], np.ndarray | bytes] = ByteBudgetCache(cache_bytes)
        #: the heads files of the last few volume generations read (they never change once written)
        self._head_files: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.RLock()  # one source serves the archive's reads from many threads

    def _array(self, path: str) -> Any:
        with self._lock:
            if path in self._arrays:
                return self._arrays[path]
        where = join(self.root, path)
        dims = list(volume_metadata(self.fs, where)["dims"])
        array = open_chunks(self.fs, join(where, "0")) or open_volume_group(self.fs, where)["0"]
        with self._lock:
            self._arrays[path] = (array, dims)
            while len(self._arrays) > 16:
                self._arrays.popitem(last=False)
        return array, dims

    def frame(self, path: str, t: int, z: int) -> np.ndarray:
        """One 2-D frame of a volume (stored values): a view of its decoded block, which must not be changed."""
        array, dims = self._array(path)
        cz = array.chunks[dims.index("z")]
        z0 = (z // cz) * cz
        key = (path, t, z0)
        block = self._kept.get(key)
        if block is None:
            index = (slice(z0, z0 + cz),) if dims[0] == "z" else (t, slice(z0, z0 + cz))
            block = np.asarray(array[index])  # decoded outside the lock: other threads read other blocks meanwhile
            block.flags.writeable = False  # shared by every read of it: changing a frame would change them all
            self._kept.put(key, block)
        return block[z - z0]

    def whole(self, store: OriginalStore, key: str) -> bytes:
        """The original stored whole under *key*, kept with the decoded blocks (least recently used dropped first).

        A whole-file key names its content (its SHA-256), so what is kept never goes stale: a
        series retrieved again before its volume is built is not read from storage again.
        """
        data = self._kept.get((key, -1, -1))
        if data is None:
            data = store.read(key)
            self._kept.put((key, -1, -1), data)
        return data  # type: ignore[return-value]

    def pixel_frames(self, path: str, ref: PixelRef) -> list[np.ndarray]:
        """The frames of an original's pixel data, in file order, as arrays of its dtype.

        Each is a view of a decoded block where it can be (same dtype, contiguous): joined with
        the bytes before them they give the file, with one copy instead of one per step.
        """
        dtype = np.dtype(ref.dtype)
        return [np.ascontiguousarray(self.frame(path, t, z), dtype=dtype) for t, z in ref.frames]

    def original(
        self,
        store: OriginalStore,
        row: dict[str, Any],
        volume_path: str,
        *,
        verify: bool = False,
        ref: PixelRef | None = None,
    ) -> bytes:
        """The original file of a ``pxr`` instance: its stored head + its pixel data from the volume.

        *ref* is the row's :class:`PixelRef` when the caller has parsed it already.
        """
        data = b"".join(self.original_buffers(store, row, volume_path, ref=ref))
        if verify:
            check_sha256(data, row["sha256"], row["stored_key"])
        return data

    def original_buffers(
        self, store: OriginalStore, row: dict[str, Any], volume_path: str, *, ref: PixelRef | None = None
    ) -> list[bytes | memoryview]:
        """:meth:`original` as the pieces that make it up, not joined: the stored head, then each frame's bytes.

        The frames are byte views of decoded blocks where they can be: a writer that sends the pieces
        one after the other sends the file without copying its pixel data once more.
        """
        ref = ref or PixelRef.from_json(row["pixel_ref"])
        try:
            with self._lock:
                head = store.read_payload(row["stored_key"], files=self._head_files)
                while len(self._head_files) > _HEAD_FILES:
                    self._head_files.popitem(last=False)
            return [head, *(memoryview(frame).cast("B") for frame in self.pixel_frames(volume_path, ref))]
        except (KeyError, FileNotFoundError, ValueError) as exc:
            raise StorageError(
                f"The pixel data of {row['SOPInstanceUID']} cannot be read from its volume {volume_path!r} ({exc}); "
                "run `pacslab verify`."
            ) from exc
