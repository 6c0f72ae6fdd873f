"""A faster ``pydicom.dcmread`` for the common case: Part 10 files in explicit VR little endian.

pydicom reads a file element by element through a generic file-like interface; at ingest
rates that reading is a fifth of the CPU. :func:`read_part10` walks the bytes directly and
builds the very objects ``pydicom.dcmread(io.BytesIO(data))`` builds — the same
``RawDataElement`` values and offsets, the same File Meta, encodings and character sets —
so that everything after it (conversion, DICOM JSON, validation) is pydicom's own.
Undefined-length sequences and encapsulated pixel data are read by pydicom's own functions.
Anything else — implicit VR, big endian, deflate, a command set, an unknown VR, a value
running past the end, stray trailing bytes — returns None: the caller reads the file with
pydicom, which decides what it makes of it.
"""

from __future__ import annotations

import io
import struct
from typing import Any

from pydicom import uid as pydicom_uid
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element, empty_value_for_VR
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.filereader import read_sequence
from pydicom.fileutil import read_undefined_length_value
from pydicom.tag import BaseTag, SequenceDelimiterTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32
from pydicom.valuerep import VR as VR_
from pydicom.values import convert_string

__all__ = ["read_part10", "sequence_items"]

_HEADER = struct.Struct("<HH2sH").unpack_from
_LENGTH = struct.Struct("<L").unpack_from
_ITEM_HEADER = struct.Struct("<HHL").unpack_from
#: The VRs pydicom reads as such (its ``ENCODED_VR``), bytes → str.
_VRS = {vr.encode(default_encoding): str(vr) for vr in VR_ if len(str(vr)) == 2}
_LONG = frozenset(vr.encode(default_encoding) for vr in EXPLICIT_VR_LENGTH_32)
_UNDEFINED = 0xFFFFFFFF
_CHARSET = 0x00080005
_PIXREP = BaseTag(0x00280103)
_ITEM_DELIMITER = 0xFFFEE00D
#: Transfer syntaxes pydicom reads other than as explicit VR little endian.
_NOT_EXPLICIT_LE = frozenset(
    {
        pydicom_uid.ImplicitVRLittleEndian,
        pydicom_uid.ExplicitVRBigEndian,
        pydicom_uid.DeflatedExplicitVRLittleEndian,
        *pydicom_uid.PrivateTransferSyntaxes,
    }
)


_RAW_FIELDS = ("tag", "VR", "length", "value", "value_tell", "is_implicit_VR", "is_little_endian", "is_raw",
               "is_buffered")  # fmt: skip


def _raw_element(cls: type, values: tuple[Any, ...]) -> Any:
    """``RawDataElement`` of the first seven *values* through its constructor."""
    return cls(*values[:7])


#: Makes ``RawDataElement(tag, vr, length, value, value_tell, False, True)`` from those values and the defaults
#: (True, False): straight as the tuple it is when its fields are the ones known here, skipping its Python
#: ``__new__``, through the constructor otherwise.
_new_tuple = (
    tuple.__new__
    if RawDataElement._fields == _RAW_FIELDS
    and RawDataElement._field_defaults == {"is_raw": True, "is_buffered": False}
    else _raw_element
)


class _Declined(Exception):
    """The bytes are not the plain case: pydicom reads them."""


def read_part10(data: bytes) -> FileDataset | None:
    """``pydicom.dcmread(io.BytesIO(data))`` for a Part 10 file in explicit VR little endian, else None.

    Parameters
    ----------
    data : bytes
        The whole file.

    Returns
    -------
    FileDataset or None
        What pydicom would return, or None when the file is not the plain case read here.
    """
    if len(data) < 144 or data[128:132] != b"DICM":
        return None
    try:
        return _read(data)
    except Exception:  # noqa: BLE001 - _Declined, or malformed: pydicom reads it and says what is wrong
        return None


def _read(data: bytes) -> FileDataset | None:
    fp = io.BytesIO(data)
    meta_elements, start = _elements(data, 132, fp, group=2)
    file_meta = FileMetaDataset(meta_elements)
    file_meta.set_original_encoding(is_implicit_vr=False, is_little_endian=True, character_encoding=default_encoding)
    if not meta_elements or start >= len(data) or data[start : start + 2] == b"\x00\x00":
        return None  # no File Meta, nothing after it, or a command set: pydicom's other paths
    file_meta[next(iter(meta_elements))]  # pydicom rereads a File Meta whose first element fails as implicit VR
    transfer_syntax = file_meta.get("TransferSyntaxUID")
    if transfer_syntax is None or transfer_syntax in _NOT_EXPLICIT_LE:
        return None
    elements, _ = _elements(data, start, fp)  # to the end: anything short of it was declined
    ds = FileDataset(fp, elements, data[:128], file_meta, False, True)  # the dataset dcmread wraps: the same dict
    ds.set_original_encoding(False, True, ds._character_set)
    return ds


def sequence_items(elem: RawDataElement, parent: Dataset) -> list[Dataset] | None:
    """The items of *parent*'s raw SQ *elem* as ``parent[elem.tag]`` would make them, or None.

    Only a defined-length SQ in explicit VR little endian whose items all have a defined
    length is read here; each item gets the raw elements, original encoding, positions and
    pixel representation pydicom's conversion gives it. *parent* is left as it is.
    """
    if elem.is_implicit_VR or not elem.is_little_endian or elem.length in (0, _UNDEFINED):
        return None
    if not isinstance(elem.value, bytes) or len(elem.value) != elem.length:
        return None
    encoding = parent.original_character_set or parent._character_set or [default_encoding]  # as __getitem__
    encoding = [encoding] if isinstance(encoding, str) else encoding  # and convert_value pass it on
    try:
        items = _items(elem.value, encoding, elem.value_tell or 0)
    except Exception:  # noqa: BLE001 - _Declined, or malformed: pydicom converts it and says what is wrong
        return None
    _pixel_representation(parent, items)
    return items


def _pixel_representation(parent: Dataset, items: list[Dataset]) -> None:
    """``Dataset._set_pixel_representation`` for the items of a sequence of *parent* (the part that sets the items)."""
    inherited = parent.get(_PIXREP).value if _PIXREP in parent._dict else getattr(parent, "_pixel_rep", None)
    if isinstance(inherited, bytes):
        inherited = int(b"\x01" in inherited)
    for item in items:
        own = item._dict[_PIXREP].value if _PIXREP in item._dict else None
        if own is not None:
            item._pixel_rep = int(b"\x01" in own) if isinstance(own, bytes) else own
        elif inherited is not None:
            item._pixel_rep = inherited


def _items(value: bytes, encoding: str | list[str], offset: int) -> list[Dataset]:
    items, pos, end = [], 0, len(value)
    fp = io.BytesIO(value)
    while pos < end:
        if end - pos < 8:
            raise _Declined
        group, element, length = _ITEM_HEADER(value, pos)
        if (group, element) != (0xFFFE, 0xE000) or length == _UNDEFINED or pos + 8 + length > end:
            raise _Declined
        elements, stop = _elements(value, pos + 8, fp, end=pos + 8 + length, encoding=encoding)
        if stop != pos + 8 + length:
            raise _Declined
        item = Dataset(elements, parent_encoding=encoding)
        own = elements.get(BaseTag(_CHARSET))  # as read_dataset: converted aside, the element stays raw
        item.set_original_encoding(False, True, encoding if own is None else convert_encodings(
            convert_raw_data_element(own).value))  # type: ignore[arg-type]  # fmt: skip
        item.is_undefined_length_sequence_item = False
        item.seq_item_tell = item.file_tell = pos + offset
        items.append(item)
        pos = stop
    return items


def _elements(
    data: bytes,
    pos: int,
    fp: io.BytesIO,
    *,
    group: int | None = None,
    end: int | None = None,
    encoding: str | list[str] = default_encoding,
) -> tuple[dict[BaseTag, RawDataElement | DataElement], int]:
    """The elements from *pos* to *end* (those of *group* only, when given), and where they end.

    *encoding* is the character set in force (the parent's, in a sequence item): undefined-length
    sequences are read with it, as pydicom's element generator does, until a (0008,0005) changes it.
    """
    out: dict[BaseTag, RawDataElement | DataElement] = {}
    end = len(data) if end is None else end
    while pos < end:
        if end - pos < 8:
            raise _Declined
        number, element, raw_vr, length = _HEADER(data, pos)
        if group is not None and number != group:
            break
        vr = _VRS.get(raw_vr)
        if vr is None:
            raise _Declined
        if raw_vr in _LONG:
            if end - pos < 12:
                raise _Declined
            length = _LENGTH(data, pos + 8)[0]
            pos += 12
        else:
            pos += 8
        value_tag = number << 16 | element  # compared as int: BaseTag's __eq__ is Python code
        if value_tag == _ITEM_DELIMITER:
            raise _Declined
        tag = BaseTag(value_tag)
        if length == _UNDEFINED:
            fp.seek(pos)
            if vr == "SQ":
                out[tag] = DataElement(tag, vr, read_sequence(fp, False, True, length, encoding), pos,
                                       is_undefined_length=True)  # fmt: skip
            elif vr == "UN":
                raise _Declined  # pydicom may read it as a sequence
            else:
                value = read_undefined_length_value(fp, True, SequenceDelimiterTag, None)
                out[tag] = _new_tuple(RawDataElement, (tag, vr, length, value, pos, False, True, True, False))
            pos = fp.tell()
            continue
        if pos + length > end:
            raise _Declined
        value = data[pos : pos + length] if length else empty_value_for_VR(vr, raw=True)
        if value_tag == _CHARSET:
            encoding = convert_encodings(convert_string(value or b"", True))
        out[tag] = _new_tuple(RawDataElement, (tag, vr, length, value, pos, False, True, True, False))
        pos += length
    return out, pos
