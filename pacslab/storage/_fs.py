"""Small helpers over fsspec: one place that knows local paths from URLs."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

__all__ = ["is_local", "join", "open_filesystem", "write_atomic"]


def open_filesystem(root: str | os.PathLike[str]) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return the filesystem for an archive root and the root path inside it.

    Parameters
    ----------
    root : str or path-like
        A local folder, or an fsspec URL such as ``memory://archive`` or ``s3://bucket/archive``.

    Returns
    -------
    fs : fsspec.AbstractFileSystem
    path : str
        The root as the filesystem names it (absolute for local folders).
    """
    text = os.fspath(root)
    if "://" not in text:
        return fsspec.filesystem("file", auto_mkdir=True), str(Path(text).expanduser().resolve())
    fs, path = fsspec.core.url_to_fs(text, **storage_options(text.split("://", 1)[0]))
    return fs, path.rstrip("/")


def storage_options(protocol: str) -> dict[str, Any]:
    """Extra fsspec options for *protocol* from the ``storage.options`` config (keyed by protocol).

    For example ``storage: {options: {s3: {endpoint_url: "http://127.0.0.1:9000"}}}`` in
    ``~/.config/pacslab/pacslab.yaml``, or ``PACSLAB_STORAGE__OPTIONS='{"s3": {"anon": True}}'``.
    Without them s3fs reads AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
    """
    from pacslab.config import config

    options = config.get("storage.options", default=None) or {}
    return dict(options.get(protocol) or {})


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether *fs* is the local disk (worker processes can then share it)."""
    return isinstance(fs, LocalFileSystem)


def join(*parts: str) -> str:
    """Join path parts with ``/`` as fsspec does on every filesystem."""
    return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts) if p)


def write_atomic(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write *data* at *path* so that readers never see a partial file.

    On a local disk the bytes go to a temporary file in the same folder that is
    then renamed over *path*; object stores and memory write whole objects anyway.
    """
    if not is_local(fs):
        fs.pipe_file(path, data)
        return
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}")
    try:
        try:
            fh = open(tmp, "wb")  # noqa: SIM115 - the folder usually exists: one system call, not a makedirs
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
            fh = open(tmp, "wb")  # noqa: SIM115
        with fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
