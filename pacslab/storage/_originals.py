"""Originals: every instance kept losslessly, content-addressed by its SHA-256.

A file is stored under ``originals/<aa>/<sha256>.<codec>`` (256 folders: creating a folder costs as much as
several files, and deeper fan-out made a new archive create one for nearly every file; archives written
before keep their ``originals/<aa>/<bb>/`` keys, which the catalog records) where the codec is
chosen per file: ``raw``; ``zst`` (zstd over the whole file); ``bsz`` (Blosc
byte-shuffle + zstd, which suits uncompressed 16-bit pixel data); or ``pxr``
(*pixel reference*: only the bytes before the pixel data, zstd-compressed, while
the pixel data itself lives once, in the series' volume; see
:mod:`pacslab.volumes._pixelref`). Those heads rest beside the pixel data, all of a
volume generation's in one file (key ``volumes/<series>/<generation>/heads.pxr#<start>-<end>``,
see :meth:`OriginalStore.put_heads`); archives written before keep a file each,
``originals/<aa>/<sha256>.pxr``, until their series is built again. The codec only changes how bytes rest on disk:
reading an original always gives the file exactly as received, checked against
its hash on demand.

In an encrypted archive (:mod:`pacslab.storage._crypto`) every blob is the codec's
output sealed in an AES-256-GCM envelope, and ``pxr`` is never used: the whole
original stays in the (encrypted) originals store, since the volumes are not
encrypted by pacslab.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import os
import shutil
import threading
import time
from collections.abc import MutableMapping, Sequence
from typing import Any

import fsspec
import numpy as np
import yaml
import zstandard
from numcodecs import Blosc

from pacslab.config import config, load_yaml
from pacslab.errors import StorageError
from pacslab.storage._crypto import Encryption, key_to_encrypt
from pacslab.storage._fs import is_local, join, write_atomic

__all__ = ["Codec", "OriginalStore", "decode_blob", "encode_blob"]

#: The archive's settings file, at its root (where an encrypted archive names its key).
SETTINGS_NAME = "pacslab.yaml"
#: The folder, at the root, of STOW-RS parts being received before they are archived (``spool/`` is C-STORE's).
RECEIVING = "stow"


class Codec(enum.StrEnum):
    """How an original rests on disk."""

    RAW = "raw"
    ZSTD = "zst"
    BLOSC_SHUFFLE_ZSTD = "bsz"
    PIXEL_REF = "pxr"


#: Codecs that hold a whole file.
WHOLE_FILE_CODECS = (Codec.RAW, Codec.ZSTD, Codec.BLOSC_SHUFFLE_ZSTD)

#: The file of a volume generation that holds the heads of the originals whose pixels it keeps.
HEADS_NAME = "heads.pxr"


def _parse_key(key: str) -> tuple[str, Codec, tuple[int, int] | None]:
    """A storage key's file, codec and, for a head kept with its volume (``…/heads.pxr#<start>-<end>``), span."""
    name, _, span = key.partition("#")
    codec = Codec(name.rsplit(".", 1)[-1])
    if not span:
        return name, codec, None
    start, _, end = span.partition("-")
    return name, codec, (int(start), int(end))


def encode_blob(data: bytes, *, itemsize: int = 1) -> tuple[Codec, bytes]:
    """Compress *data* for storage when that saves enough space.

    Parameters
    ----------
    data : bytes
        The file as received.
    itemsize : int, optional
        Bytes per pixel sample of uncompressed pixel data (2 for 16-bit images);
        values above 1 select byte-shuffling, which groups high and low bytes.

    Returns
    -------
    codec : Codec
    payload : bytes
        What to write; ``decode_blob(codec, payload) == data``.
    """
    min_saving = float(config.get("storage.min-saving"))
    level = int(config.get("storage.zstd-level"))
    if itemsize > 1 and len(data) % itemsize == 0:
        blosc = Blosc(cname="zstd", clevel=level, shuffle=Blosc.SHUFFLE)
        payload = bytes(blosc.encode(np.frombuffer(data, dtype=f"u{itemsize}")))
        codec = Codec.BLOSC_SHUFFLE_ZSTD
    else:
        payload = _zstd_compressor(level).compress(data)
        codec = Codec.ZSTD
    if len(payload) <= len(data) * (1.0 - min_saving):
        return codec, payload
    return Codec.RAW, data


_ZSTD = threading.local()  # zstandard's (de)compressors are not for two threads at once


def _zstd_compressor(level: int) -> zstandard.ZstdCompressor:
    """The zstd compressor at *level* of the calling thread: making one costs more than compressing a header."""
    compressors = _ZSTD.__dict__.setdefault("compressors", {})
    if level not in compressors:
        compressors[level] = zstandard.ZstdCompressor(level=level)
    return compressors[level]


def _zstd_decompressor() -> zstandard.ZstdDecompressor:
    """The zstd decompressor of the calling thread (see :func:`_zstd_compressor`)."""
    if not hasattr(_ZSTD, "decompressor"):
        _ZSTD.decompressor = zstandard.ZstdDecompressor()
    return _ZSTD.decompressor


def decode_blob(codec: Codec | str, payload: bytes) -> bytes:
    """Undo :func:`encode_blob`."""
    codec = Codec(codec)
    if codec is Codec.RAW:
        return payload
    if codec in (Codec.ZSTD, Codec.PIXEL_REF):
        return _zstd_decompressor().decompress(payload)
    return bytes(Blosc().decode(payload))


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of *data* as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def check_sha256(data: bytes, sha256: str, key: str) -> None:
    """Raise :class:`StorageError` unless *data* hashes to *sha256*."""
    if sha256_hex(data) != sha256:
        raise StorageError(
            f"The original {key!r} does not match its recorded SHA-256 {sha256}: "
            "the archive storage is damaged; run `pacslab verify` and restore it from a backup."
        )


class OriginalStore:
    """Content-addressed store of original DICOM files on an fsspec filesystem.

    Every read and write of an original goes through this class, which is also where
    an encrypted archive's blobs are sealed and opened.

    Parameters
    ----------
    fs : fsspec.AbstractFileSystem
    root : str
        The archive root inside *fs*; originals go under ``<root>/originals``. Whether
        they are encrypted is read from ``<root>/pacslab.yaml``.
    """

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.fs = fs
        self._local = is_local(fs)
        self.root = join(root, "originals")
        self._archive_root = root
        self.encryption = Encryption.from_settings(self._settings(), archive=root)

    def _settings(self) -> dict[str, Any]:
        try:
            return load_yaml(self.fs.cat_file(join(self._archive_root, SETTINGS_NAME))) or {}
        except FileNotFoundError:
            return {}

    @property
    def encrypted(self) -> bool:
        """Whether originals rest encrypted (then pixel data never moves out into volumes: no ``pxr``)."""
        return self.encryption is not None

    def enable_encryption(self, *, key_file: str | None = None) -> str:
        """Encrypt every original of this archive from now on; it must hold none yet.

        The key's id (and *key_file*, when given) is recorded in the archive's ``pacslab.yaml``;
        the key itself never is.

        Parameters
        ----------
        key_file : str, optional
            The key file (``pacslab key create FILE`` makes one); outside the archive. By default
            the configured key (``storage.encryption-key`` or ``storage.encryption-key-file``),
            which then has to be configured wherever the archive is used.

        Returns
        -------
        str
            The key id.

        Raises
        ------
        EncryptionKeyError
            No key given or configured, or the key file lies inside the archive.
        StorageError
            The archive already holds originals (they would stay in clear).
        """
        if self.iter_keys():
            raise StorageError(
                f"The archive {self._archive_root!r} already holds originals, which would stay unencrypted: "
                "enable encryption on a new archive (`pacslab init ROOT --encrypt`) and ingest into it."
            )
        key = key_to_encrypt(key_file, archive=self._archive_root if is_local(self.fs) else None)
        settings = self._settings()
        storage = dict(settings.get("storage") or {})
        storage["encryption-key-id"] = key.key_id
        if key_file is not None:
            storage["encryption-key-file"] = os.path.abspath(os.path.expanduser(key_file))
        settings["storage"] = storage
        write_atomic(self.fs, join(self._archive_root, SETTINGS_NAME), yaml.safe_dump(settings).encode())
        self.encryption = Encryption.from_settings(settings, archive=self._archive_root)
        return key.key_id

    def _write(self, key: str, payload: bytes) -> int:
        """Write a codec's output as blob *key* (sealed when encrypted); returns the bytes on disk."""
        blob = payload if self.encryption is None else self.encryption.seal(payload, name=key)
        write_atomic(self.fs, self.path(key), blob)
        return len(blob)

    def key(self, sha256: str, codec: Codec | str) -> str:
        """The storage key (relative to the archive root) of a blob."""
        return f"originals/{sha256[:2]}/{sha256}.{Codec(codec).value}"

    def path(self, key: str) -> str:
        """The filesystem path of a storage key."""
        return join(self.root.rsplit("/originals", 1)[0], key)

    def put(
        self, data: bytes, sha256: str, *, itemsize: int = 1, defer: bool = False, received: str | None = None
    ) -> tuple[str, Codec, int]:
        """Store *data* (whose hash is *sha256*) unless a whole-file blob with that hash exists.

        Parameters
        ----------
        data : bytes
        sha256 : str
        itemsize : int
            Bytes per pixel sample of uncompressed pixel data (selects byte-shuffling).
        defer : bool
            Store it uncompressed for now: volume building will move its pixel data into the
            volume (or compress it) shortly, and compressing it first would be wasted work.
        received : str, optional
            A file in :meth:`spool` that holds *data*: stored uncompressed, that file is moved
            into place instead of *data* being written again (the caller removes it otherwise).

        Returns
        -------
        key : str
        codec : Codec
        stored_size : int
            Bytes on disk.
        """
        found = self.whole_file(sha256)
        if found is not None:
            return found
        # deferring only pays when the pixel data may move into the volume, never when encrypted
        defer = defer and not self.encrypted
        codec, payload = (Codec.RAW, data) if defer else encode_blob(data, itemsize=itemsize)
        key = self.key(sha256, codec)
        if received is not None and codec is Codec.RAW and self.spool() is not None and self._move(received, key):
            return key, codec, len(data)
        return key, codec, self._write(key, payload)

    def spool(self) -> str | None:
        """A folder for files being received (``<root>/stow``), from which :meth:`put` moves them into place.

        None where a file cannot be moved into place (object stores; encrypted archives, whose
        blobs are sealed): received files are then kept in memory.
        """
        if not self._local or self.encrypted:
            return None
        return join(self._archive_root, RECEIVING)

    def remove_stale_spool(self, *, older_than: float = 3600.0) -> list[str]:
        """Remove the folders in :meth:`spool` unchanged for *older_than* seconds; return them.

        A server that stopped in the middle of a request left them.
        """
        folder = self.spool()
        removed: list[str] = []
        try:
            entries = list(os.scandir(folder)) if folder is not None else []
        except FileNotFoundError:
            return removed
        for entry in entries:
            try:
                stale = time.time() - entry.stat(follow_symlinks=False).st_mtime > older_than
            except FileNotFoundError:
                continue
            if stale:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
        return removed

    def _move(self, received: str, key: str) -> bool:
        """Rename *received* to blob *key* (atomically, as :func:`write_atomic`); False if it is not there."""
        path = self.path(key)
        try:
            os.replace(received, path)
        except FileNotFoundError:
            if not os.path.exists(received):
                return False
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(received, path)
        return True

    def whole_file(self, sha256: str) -> tuple[str, Codec, int] | None:
        """The whole-file blob stored for *sha256*, if any, with its size.

        On object stores one listing of the blob's folder answers (instead of a HEAD request
        per codec, each followed by a listing when the object is missing).
        """
        if self._local:  # a stat each, without fsspec's own work around it (this runs for every file)
            for codec in WHOLE_FILE_CODECS:
                key = self.key(sha256, codec)
                try:
                    return key, codec, os.stat(self.path(key)).st_size
                except FileNotFoundError:
                    continue
            return None
        folder = self.path(self.key(sha256, Codec.RAW)).rsplit("/", 1)[0]
        try:
            entries = self.fs.ls(folder, detail=True, refresh=True)
        except FileNotFoundError:
            return None
        sizes = {str(e["name"]).rsplit("/", 1)[-1]: e.get("size") for e in entries if e.get("type") != "directory"}
        for codec in WHOLE_FILE_CODECS:
            key = self.key(sha256, codec)
            size = sizes.get(key.rsplit("/", 1)[-1])
            if size is not None or key.rsplit("/", 1)[-1] in sizes:
                return key, codec, int(size if size is not None else self.fs.size(self.path(key)))
        return None

    def put_compressed(self, data: bytes, sha256: str, *, itemsize: int = 1) -> tuple[str, Codec, int]:
        """Store *data* compressed (when that saves space), whatever is stored for it already."""
        codec, payload = encode_blob(data, itemsize=itemsize)
        key = self.key(sha256, codec)
        if self.fs.exists(self.path(key)):
            return key, codec, int(self.fs.size(self.path(key)))
        return key, codec, self._write(key, payload)

    def put_heads(self, folder: str, heads: Sequence[bytes]) -> list[tuple[str, int]]:
        """Store the bytes before the pixel data of originals whose pixels live in the volumes of *folder*.

        The heads go in one file of that volume generation, ``<folder>/heads.pxr`` (each
        zstd-compressed on its own), and live and go with it: a file per head cost a new file
        (an inode, or an object-store request) for every instance.

        Parameters
        ----------
        folder : str
            The volume generation (``volumes/<series>/<generation>``, relative to the archive root).
        heads : sequence of bytes

        Returns
        -------
        list of (str, int)
            Each head's key, ``<folder>/heads.pxr#<start>-<end>`` (its bytes in that file), and its size.

        Raises
        ------
        StorageError
            The archive is encrypted: its pixel data must not rest in the (unencrypted) volumes only.
        """
        if not heads:
            return []
        if self.encrypted:
            raise StorageError("Originals cannot keep their pixel data in a volume: the archive is encrypted.")
        compressor = _zstd_compressor(int(config.get("storage.zstd-level")))
        payloads = [compressor.compress(head) for head in heads]
        name = join(folder, HEADS_NAME)
        self._write(name, b"".join(payloads))
        ends = list(itertools.accumulate(len(p) for p in payloads))
        return [(f"{name}#{end - len(p)}-{end}", len(p)) for p, end in zip(payloads, ends, strict=True)]

    def read_payload(self, key: str, *, files: MutableMapping[str, bytes] | None = None) -> bytes:
        """The decoded blob behind *key*: the whole file, or for ``pxr`` the bytes before its pixel data.

        Parameters
        ----------
        key : str
        files : mapping, optional
            Files read whole, by name, for keys that are spans of one (the heads of a volume
            generation, a file that never changes once written): the span is cut from the file
            there, and a file read for it is added. Reading a series' originals then reads its
            heads once instead of once each.
        """
        name, codec, span = _parse_key(key)
        try:
            if span is None:
                payload = self._read_file(name)
            elif files is not None:
                if name not in files:
                    files[name] = self._read_file(name)
                payload = self._check_span(name, files[name][span[0] : span[1]], *span)
            elif self._local:
                with open(self.path(name), "rb") as f:
                    f.seek(span[0])
                    payload = self._check_span(name, f.read(span[1] - span[0]), *span)
            else:
                payload = self._check_span(name, self.fs.cat_file(self.path(name), start=span[0], end=span[1]), *span)
        except FileNotFoundError as exc:
            raise StorageError(f"The original {key!r} is missing from the archive storage.") from exc
        if self.encryption is not None:
            payload = self.encryption.open(payload, name=key)
        try:
            return decode_blob(codec, payload)
        except Exception as exc:  # noqa: BLE001 - any codec failure means damaged storage
            raise StorageError(
                f"The original {key!r} cannot be decompressed ({exc}): the archive storage is damaged; "
                "run `pacslab verify` and restore it from a backup."
            ) from exc

    def _read_file(self, name: str) -> bytes:
        if self._local:  # without fsspec's file object around it (WADO-RS reads a head per instance)
            with open(self.path(name), "rb") as f:
                return f.read()
        return bytes(self.fs.cat_file(self.path(name)))

    @staticmethod
    def _check_span(name: str, payload: bytes, start: int, end: int) -> bytes:
        if len(payload) != end - start:
            raise StorageError(
                f"The file {name!r} ends before byte {end}: the archive storage is damaged; "
                "run `pacslab verify` and restore it from a backup."
            )
        return payload

    def read(self, key: str, *, sha256: str | None = None) -> bytes:
        """Return the original file behind a whole-file *key*, checked against *sha256* when given.

        A ``pxr`` original needs its volume: read it with :meth:`pacslab.Archive.read_instance`.
        """
        if _parse_key(key)[1] is Codec.PIXEL_REF:
            raise StorageError(f"The original {key!r} keeps its pixel data in a volume; read it through the archive.")
        data = self.read_payload(key)
        if sha256 is not None:
            check_sha256(data, sha256, key)
        return data

    def delete(self, key: str) -> None:
        """Remove a blob; missing ones are ignored.

        A head kept with its volume (``…/heads.pxr#<start>-<end>``) has no file of its own: it goes with that volume.
        """
        if _parse_key(key)[2] is not None:
            return
        path = self.path(key)
        if self.fs.exists(path):
            self.fs.rm_file(path)

    def heads_present(self, keys: Sequence[str]) -> set[str]:
        """Those of *keys* that name heads kept with their volumes (``…/heads.pxr#…``) whose file is there."""
        spans = {key: _parse_key(key)[0] for key in keys if "#" in key}
        there = {name for name in set(spans.values()) if self.fs.exists(self.path(name))}
        return {key for key, name in spans.items() if name in there}

    def iter_keys(self) -> list[str]:
        """Every blob key present in the originals folder (not the heads kept with volumes: :meth:`heads_present`)."""
        if not self.fs.exists(self.root):
            return []
        base = self.root.rsplit("/originals", 1)[0]
        keys = []
        for path in self.fs.find(self.root):
            name = path.rsplit("/", 1)[-1]
            if name.startswith(".tmp-"):
                continue
            keys.append(path[len(base) :].lstrip("/"))
        return keys
