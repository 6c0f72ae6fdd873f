"""The archive as a DICOM node: a DIMSE server (SCP) and clients (SCU).

:class:`DicomServer` serves an archive — Verification, Storage, and Query/Retrieve
(C-FIND, C-GET, C-MOVE; Patient Root and Study Root) — in background threads, so a
notebook can start and stop it. :func:`echo`, :func:`send`, :func:`find`, :func:`get`
and :func:`move` talk to other AEs, e.g. to pull a study from a hospital PACS into the
archive or push results out. Instances travel byte for byte as received.

Configuration lives in the ``dimse:`` section of ``pacslab.yaml`` (the package defaults,
the archive's own file, ``PACSLAB_DIMSE__*`` environment variables); see
:class:`DimseSettings`.

Examples
--------
>>> import pacslab
>>> from pacslab.dimse import DicomServer, echo
>>> archive = pacslab.open_archive("memory://dimse-doctest", create=True)
>>> server = DicomServer(archive, port=0).start()
>>> echo(server.remote) > 0
True
>>> server.stop()
"""

from __future__ import annotations

from pacslab.dimse._raw import EncodedInstance
from pacslab.dimse._settings import DimseSettings, RemoteAE, TLSSettings, resolve_remote
from pacslab.dimse.scp import DicomServer
from pacslab.dimse.scu import TransferReport, echo, find, get, move, send

__all__ = [
    "DicomServer",
    "DimseSettings",
    "EncodedInstance",
    "RemoteAE",
    "TLSSettings",
    "TransferReport",
    "echo",
    "find",
    "get",
    "move",
    "resolve_remote",
    "send",
]
