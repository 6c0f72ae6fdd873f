"""Safe names and places: path parts only from valid UIDs, never inside the archive, never through a link."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from pacslab.export.models import ExportError
from pacslab.storage import is_local

if TYPE_CHECKING:
    from pacslab.archive import Archive

__all__ = ["check_destination", "check_uid", "inside", "member_name", "target_path"]

#: A DICOM UID (PS3.5 9.1): digits in dot-separated components, at most 64 characters.
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def check_uid(uid: object, *, what: str = "UID") -> str:
    """*uid* when it is a valid DICOM UID, which makes it safe as a file or zip member name.

    Raises
    ------
    ExportError
        Anything else (``..``, slashes, letters, an empty or over-long value).
    """
    text = str(uid)
    if len(text) > 64 or not _UID.fullmatch(text):
        raise ExportError(f"Refusing to use {text!r} as a {what} in a file name: it is not a valid DICOM UID.")
    return text


def member_name(*uids: str, suffix: str) -> str:
    """``UID/UID/UID<suffix>``: a relative name made of checked UIDs only."""
    return "/".join(check_uid(u) for u in uids) + suffix


def inside(path: str, folder: str) -> bool:
    """Whether *path* is *folder* or below it, links resolved."""
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def check_destination(archive: Archive, destination: str | os.PathLike[str], *, kind: str) -> str:
    """The absolute local path of an export destination, refused when it would harm the archive.

    Parameters
    ----------
    kind : str
        ``"folder"`` (it may exist, as a folder) or ``"file"`` (a zip: it must not exist yet,
        and its folder must).

    Raises
    ------
    ExportError
        The destination is not a local path, lies inside the archive, is a file where a folder
        is wanted, already exists as a zip, or its folder is missing.
    """
    text = os.fspath(destination)
    if "://" in text or not text.strip():
        raise ExportError(f"Export to {text!r} is not supported: give a local folder or file path.")
    path = os.path.abspath(text)
    if is_local(archive.fs) and inside(path, archive.root):
        raise ExportError(
            f"Refusing to export into the archive itself ({text!r} is inside {archive.root!r}); choose another place."
        )
    if kind == "folder":
        if os.path.exists(path) and not os.path.isdir(path):
            raise ExportError(f"The export destination {text!r} is a file, not a folder; choose a folder.")
        return path
    if os.path.lexists(path):
        raise ExportError(f"The zip file {text!r} already exists; remove it or choose another name.")
    if not os.path.isdir(os.path.dirname(path)):
        raise ExportError(f"The folder of the zip file {text!r} does not exist; create it first.")
    return path


def target_path(destination: str, name: str) -> str:
    """``destination/name`` for a *name* made by :func:`member_name`, checked to stay below *destination*.

    Missing folders on the way are created; one that exists as a link is refused (it
    could lead anywhere), before anything is created through it.

    Raises
    ------
    ExportError
        A folder on the way is a link or a file.
    """
    parts = name.split("/")
    folder = destination
    for part in parts[:-1]:
        folder = os.path.join(folder, part)
        if os.path.islink(folder) or (os.path.lexists(folder) and not os.path.isdir(folder)):
            raise ExportError(
                f"Refusing to write {name!r}: {folder!r} under {destination!r} is a link or a file, not a folder."
            )
        os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, parts[-1])
