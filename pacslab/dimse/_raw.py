"""Instances on the wire exactly as archived: encoded datasets that pynetdicom sends without re-encoding.

pynetdicom encodes every dataset it sends (C-STORE, and the C-STORE sub-operations of
C-GET and C-MOVE) with pydicom, which drops group lengths and may rewrite lengths
and VRs. An archive must send back the bytes it received, so archived instances
travel as :class:`EncodedInstance` — a :class:`pydicom.Dataset` that carries only
what pynetdicom needs to pick a presentation context, plus the encoded dataset.

:func:`install` wraps ``pynetdicom.association.encode`` so that an
``EncodedInstance`` yields its own bytes when the negotiated transfer syntax is the
one it was received in, and is decoded and re-encoded by pydicom (as pynetdicom
would) only when the peer accepted a different uncompressed syntax. Every other
dataset goes through pynetdicom's ``encode`` unchanged.

It also makes a message with an empty data set complete on the wire (see
:func:`_encode_msg`): pynetdicom announces a data set but sends no fragment of it, and
the peer waits for it forever — the sender of an empty ``EncodedInstance`` got no C-STORE
response, only its DIMSE timeout.
"""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_dataset, read_preamble
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

__all__ = [
    "EncodedInstance",
    "STORAGE_TRANSFER_SYNTAXES",
    "UNCOMPRESSED",
    "install",
    "keep_responses",
    "set_nodelay",
    "split_part10",
]

logger = logging.getLogger(__name__)

UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)

#: Transfer syntaxes the archive accepts for storage (and keeps as received).
STORAGE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.92",  # JPEG 2000 Part 2 Lossless
    "1.2.840.10008.1.2.4.93",  # JPEG 2000 Part 2
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203",  # HTJ2K
    "1.2.840.10008.1.2.5",  # RLE Lossless
)


def _not_group_2(tag: Any, vr: Any, length: int) -> bool:
    return bool(tag.group != 2)


def split_part10(data: bytes, transfer_syntax: str | None = None) -> tuple[FileMetaDataset, int, UID]:
    """Find where the dataset starts in a DICOM file and in which transfer syntax it is encoded.

    Parameters
    ----------
    data : bytes
        A Part 10 file (preamble, ``DICM``, file meta), a file meta group without preamble,
        or a bare dataset.
    transfer_syntax : str, optional
        The transfer syntax of a bare dataset (the catalog knows it).

    Returns
    -------
    file_meta : FileMetaDataset
        The file meta elements (empty for a bare dataset).
    offset : int
        Where the dataset's bytes start.
    transfer_syntax : UID
    """
    fp = io.BytesIO(data)
    read_preamble(fp, True)
    start = fp.tell()
    meta = FileMetaDataset()
    if data[start : start + 2] == b"\x02\x00":
        meta = FileMetaDataset(read_dataset(fp, is_implicit_VR=False, is_little_endian=True, stop_when=_not_group_2))
        start = fp.tell()
    ts = meta.get("TransferSyntaxUID") or transfer_syntax
    if not ts:  # a bare dataset: how pydicom found it encoded
        bare = pydicom.dcmread(io.BytesIO(data[start:]), force=True, stop_before_pixels=True)
        implicit, little = bare.original_encoding
        ts = ExplicitVRBigEndian if little is False else ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    return meta, start, UID(str(ts))


class EncodedInstance(Dataset):
    """An archived instance as pynetdicom sends it: identifiers plus the encoded dataset.

    Parameters
    ----------
    original : bytes
        The instance as archived (a Part 10 file, or a bare dataset).
    sop_class_uid, sop_instance_uid : str
        Its identity (from the catalog; read from the file meta when None).
    transfer_syntax : str, optional
        The transfer syntax of a bare dataset.
    """

    def __init__(
        self,
        original: bytes,
        *,
        sop_class_uid: str | None = None,
        sop_instance_uid: str | None = None,
        transfer_syntax: str | None = None,
    ) -> None:
        super().__init__()
        meta, offset, ts = split_part10(original, transfer_syntax)
        self._original = original
        self._offset = offset
        self.SOPClassUID = sop_class_uid or meta.get("MediaStorageSOPClassUID")
        self.SOPInstanceUID = sop_instance_uid or meta.get("MediaStorageSOPInstanceUID")
        if not self.SOPClassUID or not self.SOPInstanceUID:
            ds = pydicom.dcmread(io.BytesIO(original), force=True, stop_before_pixels=True)
            self.SOPClassUID, self.SOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
        self.file_meta = FileMetaDataset()
        self.file_meta.TransferSyntaxUID = ts

    @property
    def transfer_syntax(self) -> UID:
        """The transfer syntax the dataset is encoded in."""
        return UID(self.file_meta.TransferSyntaxUID)

    @property
    def encoded(self) -> bytes:
        """The dataset's bytes exactly as archived (without file meta)."""
        return self._original[self._offset :]

    def encode_as(self, implicit_vr: bool, little_endian: bool, deflated: bool) -> bytes | None:
        """The bytes to send in a context with this encoding: the archived ones when it matches."""
        ts = self.transfer_syntax
        if (ts.is_implicit_VR, ts.is_little_endian, ts.is_deflated) == (implicit_vr, little_endian, deflated):
            return self.encoded
        logger.info("re-encoding %s for the peer: it did not accept %s", self.SOPInstanceUID, ts.name)
        ds = pydicom.dcmread(io.BytesIO(self._original), force=True)
        return _ORIGINAL_ENCODE(ds, implicit_vr, little_endian, deflated) if _ORIGINAL_ENCODE else None


_ORIGINAL_ENCODE: Callable[..., bytes | None] | None = None


def _encode(ds: Dataset, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False) -> bytes | None:
    if isinstance(ds, EncodedInstance):
        return ds.encode_as(is_implicit_vr, is_little_endian, deflated)
    assert _ORIGINAL_ENCODE is not None
    return _ORIGINAL_ENCODE(ds, is_implicit_vr, is_little_endian, deflated)


_ORIGINAL_ENCODE_MSG: Callable[..., Iterator[Any]] | None = None


def _encode_msg(message: Any, context_id: int, max_pdu_length: int) -> Iterator[Any]:
    """``DIMSEMessage.encode_msg`` that sends the last (empty) fragment of an empty data set.

    pynetdicom sets *Command Data Set Type* to "present" for any data set it is given — also
    an empty one (``if BytesIO():`` is true) — but yields data set fragments only for
    non-empty bytes. The peer then waits for a data set that never comes, and the request is
    never answered. An empty last fragment (PS3.8 E.2, control header ``0b10``) completes
    the message, so the peer can answer it (a C-STORE SCP with a failure: nothing to store).
    """
    from pynetdicom.pdu_primitives import P_DATA

    assert _ORIGINAL_ENCODE_MSG is not None
    yield from _ORIGINAL_ENCODE_MSG(message, context_id, max_pdu_length)
    data_set = message.data_set
    if (
        message.command_set.CommandDataSetType != 0x0101
        and getattr(message, "_data_set_path", None) is None
        and data_set is not None
        and not data_set.getvalue()
    ):
        last = P_DATA()
        last.presentation_data_value_list.append((context_id, b"\x02"))
        yield last


def install() -> None:
    """Route :class:`EncodedInstance` datasets around pynetdicom's re-encoding; complete empty data sets.

    Idempotent: a second call changes nothing.
    """
    global _ORIGINAL_ENCODE, _ORIGINAL_ENCODE_MSG
    from pynetdicom import association
    from pynetdicom.dimse_messages import DIMSEMessage

    if not getattr(DIMSEMessage.encode_msg, "__pacslab__", False):
        _ORIGINAL_ENCODE_MSG = DIMSEMessage.encode_msg
        _encode_msg.__pacslab__ = True  # type: ignore[attr-defined]
        DIMSEMessage.encode_msg = _encode_msg  # type: ignore[method-assign,assignment]
    if getattr(association.encode, "__pacslab__", False):
        return
    _ORIGINAL_ENCODE = association.encode
    _encode.__pacslab__ = True  # type: ignore[attr-defined]
    association.encode = _encode


#: Seconds pynetdicom's DUL reactor sleeps when it had nothing to do (its default is 1 ms, which adds
#: up to a millisecond to every request and response).
DUL_LOOP_DELAY = 0.0002


def set_nodelay(event: Any) -> None:
    """``EVT_CONN_OPEN`` handler: turn Nagle's algorithm off (DIMSE is request/response).

    It also shortens the idle sleep of the association's DUL reactor (:data:`DUL_LOOP_DELAY`).
    """
    dul = event.assoc.dul
    if hasattr(dul, "_run_loop_delay"):
        dul._run_loop_delay = DUL_LOOP_DELAY
    sock = getattr(getattr(dul, "socket", None), "socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - socket closed already
            pass


def keep_responses(assoc: Any) -> None:
    """Work around a pynetdicom race that loses a response on the requesting side.

    ``send_c_store()`` and friends pause the association's reactor thread, but only check a
    flag that the reactor sets *before* it blocks; a reactor that was woken by the previous
    request and has not run yet passes that check and then takes the next response off the
    DIMSE queue itself, logs "Received unexpected C-STORE service message" and drops it — the
    sender waits for the DIMSE timeout. A fast peer (one that answers in well under a
    millisecond, like the spooling C-STORE SCP) makes this likely. Here a response the reactor
    takes goes back on the queue, where the waiting ``send_*()`` finds it.
    """
    serve = assoc._serve_request

    def _serve_request(msg: Any, context_id: int) -> None:
        if msg is not None and not msg.is_valid_request and not getattr(assoc, "_sent_release", False):
            tries = getattr(msg, "_pacslab_requeued", 0)
            if tries < 100:  # a response nobody waits for is dropped (as pynetdicom does) after ~0.1 s
                msg._pacslab_requeued = tries + 1
                assoc.dimse.msg_queue.put((context_id, msg))
                return
        serve(msg, context_id)

    assoc._serve_request = _serve_request


def storage_contexts_for(pairs: Iterable[tuple[str, str]], *, limit: int = 120) -> list[list[Any]]:
    """Presentation contexts to send instances of these (SOP class, transfer syntax) pairs.

    Each pair gets a context of its own with only its transfer syntax, so that the acceptor
    cannot pick another one; a SOP class with uncompressed instances also gets a fallback
    context (explicit, implicit VR little endian) for peers that refuse the exact syntax.

    Returns
    -------
    list of list of (str, list of str)
        ``(abstract syntax, [transfer syntaxes])`` groups, each small enough (``limit``) for one association.
    """
    by_class: dict[str, list[str]] = {}
    for sop_class, ts in sorted(set(pairs)):
        by_class.setdefault(sop_class, []).append(ts)
    groups: list[list[Any]] = [[]]
    for sop_class, syntaxes in by_class.items():
        contexts = [(sop_class, [ts]) for ts in syntaxes]
        if any(not UID(ts).is_compressed and UID(ts).is_little_endian for ts in syntaxes):
            contexts.append((sop_class, list(UNCOMPRESSED)))
        if len(groups[-1]) + len(contexts) > limit:
            groups.append([])
        groups[-1].extend(contexts)
    return groups
