"""DICOM JSON (PS3.18 F.2) of a freshly read dataset, straight from its raw elements.

``Dataset.to_json_dict`` first turns every element into a ``DataElement`` (value
classes, validation, multi-value wrappers), which costs about 1 ms for a CT slice
and was the biggest CPU item of ingest. :func:`dataset_to_json_dict` reads the
common VRs from the raw bytes instead and returns exactly the dict pydicom returns
(so ``json.dumps`` gives the same text): it repeats pydicom 3's conversions
(``pydicom.values``) and its JSON rules (``DataElement.to_json_dict``,
``jsonrep.convert_to_python_number``) for

- text VRs: the same decoding (``iso8859`` for the default repertoire, the
  dataset's character set for LO/LT/PN/SH/ST/UC/UT), splitting and stripping;
- DS and IS: plain decimal and integer strings only, emitted as float and int;
- PN: Alphabetic, Ideographic and Phonetic groups;
- US SS UL SL UV SV FL FD, and AT as ``GGGGEEEE``: ``struct`` with the element's byte order;
- OB OD OF OL OV OW: ``InlineBinary``, or ``BulkDataURI`` above the threshold;
- SQ: item by item, recursively.

Everything else is handed to pydicom's own conversion, element by element
(``ds[tag].to_json_dict(...)``): UN (pydicom may replace it with the
dictionary VR), implicit VR private or unknown tags, ambiguous dictionary VRs
(``US or SS``, ``OB or OW``), LUT descriptors, character sets other than the
default, ISO_IR 100 and ISO_IR 192 (and values with escape sequences), values that
do not decode, number strings beyond the plain forms, lengths that do not match
the value, deferred values, and elements pydicom already converted. Exceptions
propagate, as pydicom's would. Non-default pydicom settings (``config``, hooks)
raise :class:`UnsupportedSettingsError`: the caller then uses pydicom throughout.

A value seen before (the files of a series repeat most of their header) is not read again:
its encoded element is kept with its JSON text (a bounded memo, per process) and shared by the
dicts returned since, which are therefore read-only; :func:`dumps` writes a header's JSON from
those texts.

The tests (``tests/test_ingest/test_header_json.py``) compare the output with
pydicom's on its test files, the synthetic studies and fuzzed mutants.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable
from struct import unpack
from typing import Any

import pydicom.config as config
import pydicom.hooks
import pydicom.valuerep
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from pacslab.ingest._rawread import sequence_items

__all__ = ["UnsupportedSettingsError", "dataset_to_json_dict", "dumps"]

#: Handed back by a value reader that leaves the element to pydicom.
_DELEGATE: Any = object()
_UNDEFINED_LENGTH = 0xFFFFFFFF
#: What pydicom decodes the default repertoire VRs with (``charset.default_encoding``, "iso8859").
_LATIN1 = "latin-1"
#: Python encodings (after ``charset.convert_encodings``) decoded here, as the codec to use.
_CODECS = {"iso8859": "latin-1", "latin_1": "latin-1", "UTF8": "utf-8"}
_ESC = b"\x1b"
#: LUT descriptors, whose first value pydicom's raw conversion fixes when negative (``hooks._LUT_DESCRIPTOR_TAGS``).
_LUT_DESCRIPTOR_TAGS = frozenset({0x00281101, 0x00281102, 0x00281103, 0x00283002})
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
#: Integer and decimal strings whose ``int()``/``float()`` equals pydicom's IS and DSfloat values.
_IS_RE = re.compile(r" *[+-]?[0-9]{1,15} *")  # longer integers may become ISfloat in pydicom
_DS_RE = re.compile(r" *[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)? *")

#: ``json.dumps(..., separators=(",", ":"))`` without building an encoder each time, nor looking for cycles
#: (encoded elements are trees of fresh dicts and lists).
_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)


class _Encoded(dict):  # type: ignore[type-arg]
    """An encoded element kept in the memo, with its JSON text (``json.dumps``, compact separators)."""

    __slots__ = ("text",)

    def __init__(self, encoded: dict[str, Any]) -> None:
        super().__init__(encoded)
        self.text = _JSON.encode(encoded)


#: Encoded values by (VR, value bytes, little endian, text codec): the files of a series repeat most of their
#: header, and its values' JSON is shared between the headers of the files that have them (read-only).
_MEMO: dict[tuple[str, bytes, bool, str | None], _Encoded] = {}
_MEMO_ENTRIES = 8192
_MEMO_VALUE_BYTES = 256

Reader = Callable[[bytes, bool, "str | None"], Any]
BulkHandler = Callable[[DataElement], str]


class UnsupportedSettingsError(RuntimeError):
    """pydicom is configured away from its defaults, which the raw readers here assume."""


# -- value readers: (value bytes, little endian, text codec) -> "Value" list, None (no value) or _DELEGATE
def _result(items: list[Any]) -> list[Any] | None:
    """Apply the VM rule of pydicom for strings: one empty string is no value, several are kept as they are."""
    return items if len(items) > 1 or items[0] else None


def _read_ae(value: bytes, little: bool, codec: str | None) -> list[Any] | None:
    return _result([s.strip() for s in value.decode(_LATIN1).split("\\")])


def _read_string(value: bytes, little: bool, codec: str | None) -> list[Any] | None:
    """AS CS DA DT TM (``values.multi_string``; no datetime conversion)."""
    return _result(value.decode(_LATIN1).rstrip(" \x00").split("\\"))


def _read_ui(value: bytes, little: bool, codec: str | None) -> list[Any] | None:
    return _result([s.strip() for s in value.decode(_LATIN1).rstrip("\0 ").split("\\")])


def _read_ur(value: bytes, little: bool, codec: str | None) -> list[Any] | None:
    text = value.decode(_LATIN1).rstrip()
    return [text] if text else None


def _decode(value: bytes, codec: str | None) -> str | None:
    """``charset.decode_bytes`` where it takes its shortcut; None where pydicom must decide."""
    if codec is None or _ESC in value:
        return None
    try:
        return value.decode(codec)
    except UnicodeDecodeError:  # pydicom warns and replaces: leave it to pydicom
        return None


def _read_text(value: bytes, little: bool, codec: str | None) -> Any:
    """LO SH UC (``values.convert_text``)."""
    text = _decode(value, codec)
    if text is None:
        return _DELEGATE
    return _result([s.rstrip("\0 ") for s in text.split("\\")])


def _read_single_text(value: bytes, little: bool, codec: str | None) -> Any:
    """LT ST UT (``values.convert_single_string``)."""
    text = _decode(value, codec)
    if text is None:
        return _DELEGATE
    text = text.rstrip("\0 ")
    return [text] if text else None


def _person_name(name: str) -> dict[str, str] | None:
    """The JSON groups of one name; None when it has none (an empty ``PersonName``)."""
    groups = name.split("=")
    while groups and not groups[-1]:
        groups.pop()
    if not groups:
        return None
    out = {"Alphabetic": groups[0]}
    if len(groups) > 1:
        out["Ideographic"] = groups[1]
    if len(groups) > 2:
        out["Phonetic"] = groups[2]
    return out


def _read_pn(value: bytes, little: bool, codec: str | None) -> Any:
    text = _decode(value.rstrip(b"\x00 "), codec)
    if text is None:
        return _DELEGATE
    names = [_person_name(name) for name in text.split("\\")]
    if len(names) == 1:
        return names if names[0] is not None else None
    return _DELEGATE if None in names else names  # pydicom fails on an empty name among several


def _read_ds(value: bytes, little: bool, codec: str | None) -> Any:
    text = value.decode(_LATIN1).strip().rstrip(" \x00")
    if not text:
        return None
    out = []
    for item in text.split("\\"):
        if _DS_RE.fullmatch(item) is None:
            return _DELEGATE
        out.append(float(item))
    return out


def _read_is(value: bytes, little: bool, codec: str | None) -> Any:
    text = value.decode(_LATIN1).rstrip(" \x00")
    if not text:
        return None
    out = []
    for item in text.split("\\"):
        if _IS_RE.fullmatch(item) is None:
            return _DELEGATE
        out.append(int(item))
    return out


def _numbers(fmt: str, size: int) -> Reader:
    def read(value: bytes, little: bool, codec: str | None) -> Any:
        count, rest = divmod(len(value), size)
        if rest:  # pydicom raises BytesLengthException (or makes it UN): its call
            return _DELEGATE
        return list(unpack(f"{'<' if little else '>'}{count}{fmt}", value))

    return read


def _read_at(value: bytes, little: bool, codec: str | None) -> Any:
    count, rest = divmod(len(value), 4)
    if rest:  # pydicom warns and drops the rest: its call
        return _DELEGATE
    numbers = unpack(f"{'<' if little else '>'}{2 * count}H", value)
    return [f"{group << 16 | element:08X}" for group, element in zip(numbers[::2], numbers[1::2], strict=True)]


_READERS: dict[str, Reader] = {
    "AE": _read_ae,
    "AS": _read_string,
    "CS": _read_string,
    "DA": _read_string,
    "DT": _read_string,
    "TM": _read_string,
    "UI": _read_ui,
    "UR": _read_ur,
    "LO": _read_text,
    "SH": _read_text,
    "UC": _read_text,
    "LT": _read_single_text,
    "ST": _read_single_text,
    "UT": _read_single_text,
    "PN": _read_pn,
    "DS": _read_ds,
    "IS": _read_is,
    "US": _numbers("H", 2),
    "SS": _numbers("h", 2),
    "UL": _numbers("L", 4),
    "SL": _numbers("l", 4),
    "UV": _numbers("Q", 8),
    "SV": _numbers("q", 8),
    "FL": _numbers("f", 4),
    "FD": _numbers("d", 8),
    "AT": _read_at,
}
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_HANDLED_VRS = frozenset(_READERS) | _BINARY_VRS


@functools.lru_cache(maxsize=4096)
def _implicit_vr(tag: int) -> str | None:
    """The VR pydicom gives an implicit VR element, when it is one handled here (public tags only)."""
    if (tag >> 16) & 1:  # private: pydicom consults the private dictionary
        return None
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return None
    return vr if vr in _HANDLED_VRS else None


def _check_settings() -> None:
    """Raise unless pydicom converts raw elements the default way, which the readers copy."""
    hooks = pydicom.hooks.hooks
    default = (
        not config.use_DS_numpy
        and not config.use_IS_numpy
        and not config.use_DS_decimal
        and pydicom.valuerep.DSclass is pydicom.valuerep.DSfloat
        and not config.datetime_conversion
        and not config.use_none_as_empty_text_VR_value
        and config.data_element_callback is None
        and hooks.raw_element_vr is pydicom.hooks.raw_element_vr
        and hooks.raw_element_value is pydicom.hooks.raw_element_value
        and not hooks.raw_element_kwargs
        and config.settings.reading_validation_mode != config.RAISE
    )
    if not default:
        raise UnsupportedSettingsError(
            "pydicom's config or hooks are not at their defaults; use Dataset.to_json_dict() instead."
        )


class _Encoder:
    """One :func:`dataset_to_json_dict` call: its bulk data rule and the tags left to pydicom."""

    def __init__(self, threshold: int, handler: BulkHandler | None, delegated: list[int] | None) -> None:
        self.handler = handler
        self.threshold = threshold
        self.bulk_limit = (threshold // 4) * 3  # as pydicom: base64 makes the value 4/3 longer
        self.delegated = delegated

    def dataset(self, ds: Dataset) -> dict[str, Any]:
        """The JSON object of *ds*, its elements in dataset order."""
        out: dict[str, Any] = {}
        codec: str | None = None
        codec_known = False  # looked up on the first element that needs it
        for tag, elem in list(ds._dict.items()):
            key = f"{tag:08X}"
            if isinstance(elem, RawDataElement):
                vr = elem.VR if elem.VR is not None else _implicit_vr(tag)
                if vr in _CHARSET_VRS and not codec_known:
                    codec, codec_known = _codec(ds), True
                encoded = self.raw(elem, vr, codec) if vr != "SQ" else self.raw_sequence(elem, ds)
                if encoded is not _DELEGATE:
                    out[key] = encoded
                    continue
                elem = ds[tag]  # pydicom's conversion (a sequence's items are then encoded here)
                if self.delegated is not None and elem.VR != "SQ":
                    self.delegated.append(tag)
            out[key] = self.element(elem)
        return out

    def raw(self, elem: RawDataElement, vr: str | None, codec: str | None) -> Any:
        """The JSON of a raw element, or ``_DELEGATE``."""
        value, length = elem.value, elem.length
        if vr not in _HANDLED_VRS or elem.tag in _LUT_DESCRIPTOR_TAGS:  # LUTs: sign fix
            return _DELEGATE
        if length == 0:  # pydicom's empty value, whatever the raw value is (b"" or None)
            return {"vr": vr}
        if value is None:  # deferred read
            return _DELEGATE
        if vr in _BINARY_VRS:
            if not value or (length != len(value) and length != _UNDEFINED_LENGTH):
                return _DELEGATE
            return self.binary(elem, vr, value)
        if length != len(value):
            return _DELEGATE
        key = (vr, value, elem.is_little_endian, codec) if length <= _MEMO_VALUE_BYTES else None
        encoded = _MEMO.get(key) if key is not None else None
        if encoded is None:
            result = _READERS[vr](value, elem.is_little_endian, codec)
            if result is _DELEGATE:
                return _DELEGATE
            encoded = {"vr": vr} if result is None else {"vr": vr, "Value": result}
            if key is not None:
                if len(_MEMO) >= _MEMO_ENTRIES:
                    _MEMO.clear()
                encoded = _MEMO[key] = _Encoded(encoded)
        return encoded

    def raw_sequence(self, elem: RawDataElement, ds: Dataset) -> Any:
        """The JSON of a raw SQ whose items :func:`~pacslab.ingest._rawread.sequence_items` reads, or ``_DELEGATE``."""
        items = sequence_items(elem, ds)
        return _DELEGATE if items is None else {"vr": "SQ", "Value": [self.dataset(item) for item in items]}

    def binary(self, elem: RawDataElement, vr: str, value: bytes) -> dict[str, Any]:
        """``BulkDataURI`` (from the handler, given the element pydicom would make) or ``InlineBinary``."""
        if self.handler is not None and len(value) > self.bulk_limit:
            converted = DataElement(
                elem.tag, vr, value, elem.value_tell, elem.length == _UNDEFINED_LENGTH, already_converted=True
            )
            return {"vr": vr, "BulkDataURI": self.handler(converted)}
        return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("utf-8")}

    def element(self, elem: DataElement) -> dict[str, Any]:
        """The JSON of a converted element: a sequence item by item here, others by pydicom."""
        if elem.VR == "SQ" and all(isinstance(item, Dataset) for item in elem.value):
            return {"vr": elem.VR, "Value": [self.dataset(item) for item in elem.value]}
        return elem.to_json_dict(bulk_data_element_handler=self.handler, bulk_data_threshold=self.threshold)


def _codec(ds: Dataset) -> str | None:
    """The codec pydicom decodes *ds*'s LO/LT/PN/SH/ST/UC/UT with, when it is one handled here."""
    charset = ds.original_character_set or ds._character_set
    if isinstance(charset, str):
        return _CODECS.get(charset)
    return _CODECS.get(charset[0]) if len(charset) == 1 else None


def dumps(header: dict[str, Any]) -> str:
    """``json.dumps(header, separators=(",", ":"))`` of a :func:`dataset_to_json_dict` result.

    Elements from the memo bring their text along: only the others are dumped.
    """
    parts = []
    for key, element in header.items():
        text = element.text if type(element) is _Encoded else _JSON.encode(element)
        parts.append(f'"{key}":{text}')
    return "{" + ",".join(parts) + "}"


def dataset_to_json_dict(
    ds: Dataset,
    *,
    bulk_data_threshold: int = 1024,
    bulk_data_element_handler: BulkHandler | None = None,
    delegated: list[int] | None = None,
) -> dict[str, Any]:
    """``ds.to_json_dict(bulk_data_threshold, bulk_data_element_handler)``, equal to it, from the raw values.

    Parameters
    ----------
    ds : Dataset
        As read by ``pydicom.dcmread`` (elements still raw) or partly converted.
    bulk_data_threshold : int
        As pydicom's: binary values longer than ``(threshold // 4) * 3`` bytes go to
        *bulk_data_element_handler*.
    bulk_data_element_handler : callable, optional
        Returns the ``BulkDataURI`` of a ``DataElement``; without it binary values are inline.
    delegated : list of int, optional
        When given, the tags of the raw elements handed to pydicom's conversion are appended.

    Returns
    -------
    dict
        The DICOM JSON object, keys in dataset order. Read-only: its elements may be shared with
        those of other calls' results.

    Raises
    ------
    UnsupportedSettingsError
        pydicom's config or hooks are not at their defaults.
    Exception
        Whatever pydicom raises converting an element it was handed.
    """
    _check_settings()
    return _Encoder(bulk_data_threshold, bulk_data_element_handler, delegated).dataset(ds)
