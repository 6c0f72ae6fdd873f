"""Apply the PS3.15 Basic Application Level Confidentiality Profile to a pydicom Dataset.

How the choices that the standard leaves open are made here:

- Every attribute governed by Table E.1-1 gets its action, at the top level and
  recursively inside every sequence item. Attributes the table does not name are
  kept (sequences among them are still walked).
- Combined codes are resolved without knowledge of the IOD, so that no Type 1 or
  Type 2 attribute goes missing: ``Z/D``, ``X/D`` and ``X/Z/D`` become D (a dummy
  keeps e.g. Enhanced CT's Type 1 ContentDate and DeviceSerialNumber, or RT Plan's
  Type 2 RTPlanDate, conformant while carrying nothing); on a sequence X/D becomes X
  and X/Z/D an empty sequence; ``X/Z`` becomes Z; ``X/Z/U*`` keeps a reference
  sequence and walks its items, whose UIDs are replaced (U) so references stay
  consistent.
- D on a sequence (ContentSequence, GraphicAnnotationSequence, …): the items are
  kept and walked, and inside them every free-text attribute the table does not
  name (VR ST, LT, UT, UC, PN — e.g. an SR's TextValue) gets a dummy value; coded
  concepts (CodeValue, CodeMeaning) and measurements stay, so the SR tree stays
  valid. C on a sequence (Clean Structured Content) cleans that free text instead
  (see C below). K, and U on a sequence: the items are kept and walked.
- PatientName and PatientID get project-scoped pseudonyms rather than empty values
  (allowed by Z and Z/D), so instances of one patient stay together.
- U: ``2.25.<HMAC>`` UIDs (:class:`~pacslab.anonymize.uids.Pseudonymizer`); UIDs
  under ``1.2.840.10008.`` (defined by the standard) are kept.
- Private attributes are removed. The Retain Safe Private Option keeps those known
  to be safe (PS3.15 E.3.10): the blocks or elements the instance itself declares
  safe in its Private Data Element Characteristics Sequence (0008,0300) — Block
  Identifying Information Status SAFE, or MIXED with Nonidentifying Private
  Elements — and those configured as safe (``anonymize.safe-private``, entries
  ``"CREATOR|gggg|ee"``, ``ee`` omitted for a whole block; *safe_private*).
  pacslab ships no vendor list of its own: an attribute nobody vouched for goes. The
  private creator of a kept element stays; that of a block left empty goes.
- Overlays: when Overlay Data or Overlay Comments is removed, the whole ``60xx``
  group goes (a header without its bitmap would not be a valid overlay). Curves
  (``50xx``) are removed. Clean Graphics keeps both as they are: pacslab cannot read
  text burned into an overlay bitmap, so choose that option only for checked data.
- C (clean): dates (DA, DT) are shifted by the patient's offset under Retain
  Longitudinal Temporal Information with Modified Dates; the shift is whole days,
  so times (TM) stay as they were and stay consistent with their dates. Text is
  cleaned by deleting every identifying string of the same instance (names, IDs,
  accession number, birth date, institution) from it. Other values are kept.
- Pixel data is never touched; see :func:`burned_in_reason` for what is held back.
"""

from __future__ import annotations

import copy
import datetime as _dt
import re
from collections.abc import Iterable
from typing import Any

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID

from pacslab.anonymize.profiles import (
    BASIC_PROFILE_CODE,
    ActionValues,
    OptionValues,
    ProfileRow,
    ProfileTable,
    load_table,
)
from pacslab.anonymize.uids import Pseudonymizer, Recorder
from pacslab.errors import PacslabError

__all__ = [
    "BurnedInAnnotationError",
    "Deidentifier",
    "burned_in_reason",
    "declared_safe_private",
    "deidentify_dataset",
    "parse_options",
    "parse_safe_private",
]

#: Modalities whose images often carry burned-in text (screen captures, ultrasound, photographs,
#: scanned documents): held back unless BurnedInAnnotation says NO.
BURNED_IN_MODALITIES = frozenset({"US", "SC", "OT", "XC", "ES", "GM", "SM", "DOC", "IVUS", "OP", "OPT"})
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame children .7.1 – .7.4

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_PATIENT_NAME, _PATIENT_ID = 0x00100010, 0x00100020
_DUMMY_TEXT = "ANONYMIZED"
_DUMMY = {
    "AE": _DUMMY_TEXT, "AS": "000Y", "CS": _DUMMY_TEXT, "DA": "19000101", "DT": "19000101000000",
    "TM": "000000", "DS": "0", "IS": "0", "LO": _DUMMY_TEXT, "LT": _DUMMY_TEXT, "SH": _DUMMY_TEXT,
    "ST": _DUMMY_TEXT, "UT": _DUMMY_TEXT, "UC": _DUMMY_TEXT, "PN": _DUMMY_TEXT, "UR": "urn:anonymized",
    "US": 0, "SS": 0, "UL": 0, "SL": 0, "UV": 0, "SV": 0, "FL": 0.0, "FD": 0.0, "AT": 0,
}  # fmt: skip
_ALTERNATIVE_DUMMY = {"AS": "001Y", "UR": "urn:anonymised", "DS": "1", "IS": "1"}
_FREE_TEXT_VRS = frozenset({"ST", "LT", "UT", "UC", "PN"})
_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC", "PN", "CS", "AE", "UR"})
_IDENTIFYING = ("PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName",
                "PatientMotherBirthName", "AccessionNumber", "PatientBirthDate", "InstitutionName",
                "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "StudyID",
                "IssuerOfPatientID", "PatientAddress", "PatientTelephoneNumbers")  # fmt: skip


class BurnedInAnnotationError(PacslabError, ValueError):
    """An instance may show identifying text in its pixels and was not de-identified."""


def parse_options(options: Iterable[str | OptionValues]) -> frozenset[OptionValues]:
    """Normalise option names (``"retain-uids"``, ``"RETAIN_UIDS"``, a member) to :class:`OptionValues`.

    Raises
    ------
    ValueError
        An unknown name (the message lists the valid ones).
    """
    chosen = set()
    for option in options:
        try:
            chosen.add(OptionValues(option))
        except ValueError:
            valid = ", ".join(o.cli_name for o in OptionValues)
            raise ValueError(f"Unknown de-identification option {option!r}; expected one of: {valid}.") from None
    if {OptionValues.RETAIN_LONGITUDINAL_FULL_DATES, OptionValues.RETAIN_LONGITUDINAL_MODIFIED_DATES} <= chosen:
        raise ValueError("Choose one of retain-longitudinal-full-dates and retain-longitudinal-modified-dates.")
    return frozenset(chosen)


def burned_in_reason(ds: Dataset) -> str | None:
    """Why *ds* may show identifying text in its pixels, or None.

    The rule: an image (it has pixel data) is held back when BurnedInAnnotation is
    ``YES``, or when BurnedInAnnotation is absent or empty and the instance is a
    Secondary Capture or its Modality is one of :data:`BURNED_IN_MODALITIES`.
    Instances without pixel data are never held back.
    """
    if not any(tag in ds for tag in _PIXEL_TAGS):
        return None
    value = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if value == "YES":
        return "BurnedInAnnotation is YES: the pixels show text that may identify the patient"
    if value == "NO":
        return None
    modality = str(ds.get("Modality", "") or "").upper()
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class.startswith(_SECONDARY_CAPTURE) or modality in BURNED_IN_MODALITIES:
        kind = "a Secondary Capture" if sop_class.startswith(_SECONDARY_CAPTURE) else f"a {modality} image"
        return (
            f"BurnedInAnnotation is {'absent' if not value else repr(value)} on {kind}, "
            "which often carries burned-in text; check the pixels and pass allow_burned_in=True"
        )
    return None


class Deidentifier:
    """De-identify datasets under one project, secret and set of options.

    Parameters
    ----------
    options : iterable of str or OptionValues
        PS3.15 E.3 options (columns of Table E.1-1) applied on top of the Basic Profile.
    project : str
        Scope of pseudonyms, UIDs and date shifts.
    secret : bytes or str
        The project secret.
    recorder : callable, optional
        Receives ``(kind, original, replacement)`` for the re-identification map.
    allow_burned_in : bool
        De-identify instances that :func:`burned_in_reason` would hold back.
    safe_private : iterable of str or tuple, optional
        Private attributes that the Retain Safe Private option keeps, besides those the
        instance declares safe: ``"CREATOR|gggg|ee"`` strings (``ee`` omitted: the whole
        block) or ``(creator, group, element_offset_or_None)`` tuples. Default: the
        ``anonymize.safe-private`` configuration.
    """

    def __init__(
        self,
        *,
        options: Iterable[str | OptionValues] = (),
        project: str = "default",
        secret: bytes | str,
        recorder: Recorder | None = None,
        allow_burned_in: bool = False,
        table: ProfileTable | None = None,
        safe_private: Iterable[str | tuple[str, int, int | None]] | None = None,
    ) -> None:
        self.options = parse_options(options)
        if safe_private is None:
            from pacslab.config import config

            safe_private = config.get("anonymize.safe-private", None) or ()
        self.safe_private = parse_safe_private(safe_private)
        self.project = project
        self.table = table or load_table()
        self.pseudonyms = Pseudonymizer(project, secret, recorder=recorder)
        self.allow_burned_in = allow_burned_in
        self._cache: dict[tuple[int, int], ActionValues] = {}

    def __call__(self, ds: Dataset) -> Dataset:
        """A de-identified copy of *ds* (which is left unchanged).

        Raises
        ------
        BurnedInAnnotationError
            *ds* may show identifying text (see :func:`burned_in_reason`) and
            *allow_burned_in* is False.
        """
        reason = burned_in_reason(ds)
        if reason and not self.allow_burned_in:
            raise BurnedInAnnotationError(f"Instance {str(ds.get('SOPInstanceUID', '?'))!r} was held back: {reason}.")
        out = copy.deepcopy(ds)
        context = _Context(
            patient_id=str(ds.get("PatientID", "") or ""),
            tokens=_identifying_tokens(ds),
            shift=None,
        )
        if OptionValues.RETAIN_SAFE_PRIVATE in self.options:
            context.safe = _merge_safe(self.safe_private, declared_safe_private(ds))
        if OptionValues.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options:
            context.shift = self.pseudonyms.date_shift(context.patient_id)
        self._walk(out, context)
        self._mark(out)
        self._file_meta(out, ds)
        return out

    # -- the walk -------------------------------------------------------------------------
    def _action(self, row: ProfileRow) -> ActionValues:
        return row.action(self.options)

    def _walk(self, ds: Dataset, context: _Context, mode: str = "") -> None:
        drop_groups = set()
        for tag in [int(t) for t in ds.keys()]:
            group = tag >> 16
            if group in drop_groups:
                continue
            row = self.table.row_for(tag)
            elem = ds[tag]
            if row is None:
                if elem.VR == "SQ":
                    self._walk_items(elem, context, mode)
                elif mode and elem.VR in _FREE_TEXT_VRS and elem.value not in (None, ""):
                    elem.value = _dummy(elem.VR, elem.value) if mode == "dummy" else self._clean(elem, context)
                continue
            if row is self.table.private:
                if tag & 0xFF00 == 0 and 0x10 <= tag & 0xFF:
                    continue  # a private creator: kept while its block keeps an element (_drop_empty_blocks)
                if context.safe is None or not _is_safe(ds, tag, context.safe):
                    del ds[tag]
                elif elem.VR == "SQ":
                    self._walk_items(elem, context, mode)
                continue
            action = self._action(row)
            if group & 0xFF00 == 0x6000 and action.removes:
                drop_groups.add(group)
                continue
            self._apply(ds, elem, action, context, mode)
        for dropped in [int(t) for t in ds.keys() if int(t) >> 16 in drop_groups]:
            del ds[dropped]
        _drop_empty_blocks(ds)

    def _walk_items(self, elem: DataElement, context: _Context, mode: str) -> None:
        for item in elem.value or ():
            self._walk(item, context, mode)

    def _apply(self, ds: Dataset, elem: DataElement, action: ActionValues, context: _Context, mode: str) -> None:
        tag, vr, is_sq = int(elem.tag), elem.VR, elem.VR == "SQ"
        if action in (ActionValues.Z_D, ActionValues.X_Z_D):
            action = ActionValues.Z if (is_sq and action is ActionValues.X_Z_D) else ActionValues.D
        elif action is ActionValues.X_Z:
            action = ActionValues.Z
        elif action is ActionValues.X_D:
            action = ActionValues.X if is_sq else ActionValues.D
        elif action is ActionValues.X_Z_U:
            action = ActionValues.K if is_sq else ActionValues.X
        if action is ActionValues.X:
            del ds[tag]
        elif is_sq:
            if action is ActionValues.Z:
                elem.value = Sequence()
            else:  # D, K, C, U on a sequence: keep the items, de-identified
                inner = {ActionValues.D: "dummy", ActionValues.C: "clean"}.get(action, "")
                self._walk_items(elem, context, "dummy" if "dummy" in (mode, inner) else (mode or inner))
        elif action is ActionValues.K:
            return
        elif tag in (_PATIENT_NAME, _PATIENT_ID) and action in (ActionValues.Z, ActionValues.D):
            self._pseudonym(elem, context)
        elif action is ActionValues.Z:
            elem.value = elem.empty_value
        elif action is ActionValues.U or (action is ActionValues.D and vr == "UI"):
            elem.value = _map_uids(elem.value, self.pseudonyms.uid)
        elif action is ActionValues.D:
            elem.value = _dummy(vr, elem.value)
        elif action is ActionValues.C:
            elem.value = self._clean(elem, context)

    def _pseudonym(self, elem: DataElement, context: _Context) -> None:
        if elem.value in (None, ""):
            return
        if int(elem.tag) == _PATIENT_ID:
            elem.value = self.pseudonyms.patient_id(str(elem.value))
        else:
            elem.value = self.pseudonyms.patient_name(str(elem.value), context.patient_id)

    def _clean(self, elem: DataElement, context: _Context) -> Any:
        vr, value = elem.VR, elem.value
        if value in (None, "", b""):
            return value
        if vr in ("DA", "DT"):
            if context.shift is None:
                return elem.empty_value
            return _map_values(value, lambda v: _shift(v, vr, context.shift))
        if vr in _TEXT_VRS:
            return _map_values(value, lambda v: _scrub(str(v), context.tokens))
        return value

    # -- marks ----------------------------------------------------------------------------
    def _mark(self, ds: Dataset) -> None:
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = f"pacslab {_version()}: PS3.15 Table E.1-1"
        codes = [BASIC_PROFILE_CODE] + sorted((o.code_value, o.value) for o in self.options)
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        if OptionValues.RETAIN_LONGITUDINAL_FULL_DATES in self.options:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
        elif OptionValues.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.options:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"

    def _file_meta(self, out: Dataset, original: Dataset) -> None:
        old = getattr(original, "file_meta", None)
        syntax = old.get("TransferSyntaxUID") if old is not None else None
        if old is None or syntax is None:
            if hasattr(out, "file_meta"):
                del out.file_meta
            return
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = out.get("SOPClassUID", old.get("MediaStorageSOPClassUID"))
        sop_instance_uid: str = out.get("SOPInstanceUID") or self.pseudonyms.uid(
            str(old.get("MediaStorageSOPInstanceUID", ""))
        )
        meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
        meta.TransferSyntaxUID = syntax
        meta.FileMetaInformationVersion = b"\x00\x01"
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = "PACSLAB"
        out.file_meta = meta


def deidentify_dataset(
    ds: Dataset,
    *,
    options: Iterable[str | OptionValues] = (),
    project: str = "default",
    secret: bytes | str,
    allow_burned_in: bool = False,
    recorder: Recorder | None = None,
    safe_private: Iterable[str | tuple[str, int, int | None]] | None = None,
) -> Dataset:
    """A de-identified copy of *ds* under the PS3.15 Basic Profile and *options*.

    Parameters
    ----------
    ds : pydicom.Dataset
        Left unchanged.
    options : iterable of str or OptionValues
        E.g. ``["retain-longitudinal-modified-dates", "retain-device-identity"]``.
    project : str
        Pseudonyms, UIDs and date shifts are consistent within a project.
    secret : bytes or str
        The project secret (:func:`pacslab.anonymize.project_secret` keeps one per archive).
    allow_burned_in : bool
        De-identify an instance that may show identifying text in its pixels.
    recorder : callable, optional
        Receives ``(kind, original, replacement)`` for every replacement.
    safe_private : iterable, optional
        Private attributes kept under Retain Safe Private (see :class:`Deidentifier`).

    Returns
    -------
    pydicom.Dataset
        With PatientIdentityRemoved ``YES``, DeidentificationMethod and its CID 7050 code sequence.

    Raises
    ------
    BurnedInAnnotationError
        See :func:`burned_in_reason`.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> ds = Dataset()
    >>> ds.PatientName, ds.PatientID, ds.StudyInstanceUID = "Doe^Jane", "123", "1.2.3"
    >>> out = deidentify_dataset(ds, secret="s")
    >>> str(out.PatientName).startswith("ANON^"), out.StudyInstanceUID.startswith("2.25.")
    (True, True)
    """
    engine = Deidentifier(
        options=options,
        project=project,
        secret=secret,
        recorder=recorder,
        allow_burned_in=allow_burned_in,
        safe_private=safe_private,
    )
    return engine(ds)


#: ``(private creator, group) -> element offsets kept (None: the whole block)``.
SafePrivate = dict[tuple[str, int], frozenset[int] | None]


def parse_safe_private(entries: Iterable[str | tuple[str, int, int | None]]) -> SafePrivate:
    """Normalise safe-private entries (``"CREATOR|gggg|ee"`` or tuples) to a lookup.

    Raises
    ------
    ValueError
        An entry that is not ``CREATOR|gggg[|ee]`` with an odd group (the message shows it).
    """
    safe: dict[tuple[str, int], set[int] | None] = {}
    for entry in entries:
        try:
            if isinstance(entry, str):
                parts = entry.split("|")
                if len(parts) not in (2, 3):
                    raise ValueError
                creator, group = parts[0], int(parts[1], 16)
                element = int(parts[2], 16) if len(parts) == 3 and parts[2] else None
            else:
                creator, group, element = entry
            bad_element = element is not None and not 0 <= element <= 0xFF
            if not group & 1 or group < 0x0009 or not creator.strip() or bad_element:
                raise ValueError
        except (ValueError, TypeError):
            raise ValueError(
                f"Bad safe-private entry {entry!r} (anonymize.safe-private): expected 'CREATOR|gggg|ee' with an odd "
                "group gggg and the element offset ee in hex (omit ee for the whole block), e.g. 'ACME 1.1|0019|10'."
            ) from None
        key = (creator.strip(), group)
        if element is None:
            safe[key] = None
        elif safe.get(key, set()) is not None:
            safe.setdefault(key, set()).add(element)  # type: ignore[union-attr]
    return {key: (None if value is None else frozenset(value)) for key, value in safe.items()}


def declared_safe_private(ds: Dataset) -> SafePrivate:
    """The private blocks and elements *ds* declares non-identifying (Private Data Element Characteristics).

    PS3.3 C.12.1.1.7: an item with Block Identifying Information Status ``SAFE`` makes its whole
    block safe; ``MIXED`` makes the elements listed in Nonidentifying Private Elements safe;
    ``UNSAFE`` (or anything else) none.
    """
    safe: SafePrivate = {}
    for item in ds.get("PrivateDataElementCharacteristicsSequence", None) or ():
        creator = str(item.get("PrivateCreatorReference", "") or "").strip()
        group = item.get("PrivateGroupReference")
        status = str(item.get("BlockIdentifyingInformationStatus", "") or "").strip().upper()
        if not creator or not isinstance(group, int):
            continue
        if status == "SAFE":
            safe[(creator, group)] = None
        elif status == "MIXED":
            listed = item.get("NonidentifyingPrivateElements") or []
            listed = [listed] if isinstance(listed, int) else list(listed)
            safe[(creator, group)] = frozenset(int(e) & 0xFF for e in listed)
    return safe


def _merge_safe(a: SafePrivate, b: SafePrivate) -> SafePrivate:
    merged = dict(a)
    for key, elements in b.items():
        mine = merged.get(key, frozenset())
        merged[key] = None if mine is None or elements is None else mine | elements
    return merged


def _is_safe(ds: Dataset, tag: int, safe: SafePrivate) -> bool:
    """Whether private element *tag* of *ds* is in a safe block (its creator is read from *ds*)."""
    group, block = tag >> 16, (tag >> 8) & 0xFF
    creator_tag = (group << 16) | block
    if block < 0x10 or creator_tag not in ds:
        return False
    creator = str(ds[creator_tag].value or "").strip()
    if (creator, group) not in safe:
        return False
    elements = safe[(creator, group)]
    return elements is None or (tag & 0xFF) in elements


def _drop_empty_blocks(ds: Dataset) -> None:
    """Remove private creators whose block kept no element."""
    tags = [int(t) for t in ds.keys()]
    used = {(t >> 16, (t >> 8) & 0xFF) for t in tags if (t >> 16) & 1 and t & 0xFF00}
    for t in tags:
        if (t >> 16) & 1 and t & 0xFF00 == 0 and 0x10 <= t & 0xFF and (t >> 16, t & 0xFF) not in used:
            del ds[t]


class _Context:
    __slots__ = ("patient_id", "safe", "shift", "tokens")

    def __init__(self, *, patient_id: str, tokens: list[str], shift: _dt.timedelta | None) -> None:
        self.patient_id, self.tokens, self.shift = patient_id, tokens, shift
        self.safe: SafePrivate | None = None  # set under the Retain Safe Private option


def _version() -> str:
    from pacslab import __version__

    return __version__


def _map_values(value: Any, fn: Any) -> Any:
    if isinstance(value, list | tuple | pydicom.multival.MultiValue):
        return [fn(v) for v in value]
    return fn(value)


def _map_uids(value: Any, fn: Any) -> Any:
    if isinstance(value, bytes):  # a UID attribute read with VR UN
        text = value.decode("ascii", "replace").rstrip("\x00 ")
        out = "\\".join(fn(v) for v in text.split("\\")).encode("ascii")
        return out + b"\x00" * (len(out) % 2)
    return _map_values(value, fn)


def _dummy(vr: str, original: Any = None) -> Any:
    """A dummy value of *vr* that differs from *original* (D must not keep the value)."""
    vr = vr.split(" or ")[0]
    value: Any
    if vr in _DUMMY:
        value = _DUMMY[vr]
    elif vr in ("OF", "OL"):
        value = b"\x00" * 4
    elif vr in ("OD", "OV"):
        value = b"\x00" * 8
    else:  # OB, OW, UN
        value = b"\x00\x00"
    if value != original:
        return value
    if isinstance(value, bytes):
        return b"\x01" + value[1:]
    if isinstance(value, int | float):
        return type(value)(1)
    return _ALTERNATIVE_DUMMY.get(vr, str(value)[:-1] + "1")


def _shift(value: str, vr: str, shift: _dt.timedelta) -> str:
    text = str(value)
    try:
        day = _dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return ""
    return (day + shift).strftime("%Y%m%d") + (text[8:] if vr == "DT" else "")


def _identifying_tokens(ds: Dataset) -> list[str]:
    tokens: set[str] = set()
    for keyword in _IDENTIFYING:
        value = ds.get(keyword)
        if value in (None, ""):
            continue
        values = value if isinstance(value, list | tuple | pydicom.multival.MultiValue) else [value]
        for v in values:
            text = str(v)
            tokens.add(text)
            tokens.update(part for part in re.split(r"[\^=\s,]+", text) if len(part) >= 3)
    return sorted((t for t in tokens if len(t.strip()) >= 3), key=len, reverse=True)


def _scrub(text: str, tokens: list[str]) -> str:
    cleaned = text
    for token in tokens:
        cleaned = re.sub(re.escape(token), "", cleaned, flags=re.IGNORECASE)
    return text if cleaned == text else re.sub(r" {2,}", " ", cleaned).strip()
