"""The PS3.15 Annex E confidentiality profile as data: action codes, options, Table E.1-1.

The table itself lives in ``table_e1_1.csv`` beside this module (one row per
attribute of `PS3.15 Table E.1-1
<https://dicom.nema.org/medical/dicom/current/output/chtml/part15/chapter_E.html#table_E.1-1>`_);
its header comment states the edition and where each column was transcribed from.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import functools
import re
from pathlib import Path

__all__ = [
    "ActionValues",
    "OptionValues",
    "ProfileRow",
    "ProfileTable",
    "load_table",
]

TABLE_PATH = Path(__file__).with_name("table_e1_1.csv")


class ActionValues(enum.Enum):
    """Action codes of PS3.15 Table E.1-1 (see PS3.15 E.3, "Action Codes").

    Combined codes leave a choice that depends on the IOD: ``X/Z`` means "X unless
    Z is required to maintain IOD conformance", and so on.
    """

    D = "D"
    """Replace with a non-zero length value that may be a dummy value consistent with the VR."""
    Z = "Z"
    """Replace with a zero length value, or a dummy value consistent with the VR."""
    X = "X"
    """Remove."""
    K = "K"
    """Keep (unchanged for non-sequence attributes, cleaned for sequences)."""
    C = "C"
    """Clean: replace with values of similar meaning known not to contain identifying information."""
    U = "U"
    """Replace with a non-zero length UID that is internally consistent within a set of instances."""
    Z_D = "Z/D"
    X_Z = "X/Z"
    X_D = "X/D"
    X_Z_D = "X/Z/D"
    X_Z_U = "X/Z/U*"
    """X unless Z or replacement of contained instance UIDs (U) is required (references)."""

    @property
    def removes(self) -> bool:
        """True for every action other than K and C (the value must not survive)."""
        return self not in (ActionValues.K, ActionValues.C)


class OptionValues(enum.Enum):
    """The options of PS3.15 E.3 (columns of Table E.1-1), valued by their CID 7050 code meaning.

    ``OptionValues("retain-uids")``, ``OptionValues("RETAIN_UIDS")`` and
    ``OptionValues("Retain UIDs Option")`` are the same member.
    """

    RETAIN_SAFE_PRIVATE = "Retain Safe Private Option"
    RETAIN_UIDS = "Retain UIDs Option"
    RETAIN_DEVICE_IDENTITY = "Retain Device Identity Option"
    RETAIN_INSTITUTION_IDENTITY = "Retain Institution Identity Option"
    RETAIN_PATIENT_CHARACTERISTICS = "Retain Patient Characteristics Option"
    RETAIN_LONGITUDINAL_FULL_DATES = "Retain Longitudinal Temporal Information Full Dates Option"
    RETAIN_LONGITUDINAL_MODIFIED_DATES = "Retain Longitudinal Temporal Information Modified Dates Option"
    CLEAN_DESCRIPTORS = "Clean Descriptors Option"
    CLEAN_STRUCTURED_CONTENT = "Clean Structured Content Option"
    CLEAN_GRAPHICS = "Clean Graphics Option"

    @classmethod
    def _missing_(cls, value: object) -> OptionValues | None:
        if isinstance(value, str):
            key = re.sub(r"[^A-Z]+", "_", value.upper()).strip("_").removesuffix("_OPTION")
            key = key.replace("TEMPORAL_INFORMATION_", "").replace("WITH_", "")
            for member in cls:
                if key == member.name:
                    return member
        return None

    @property
    def code_value(self) -> str:
        """The code of the option in CID 7050 (scheme DCM)."""
        return _CODES[self]

    @property
    def column(self) -> str:
        """The option's column in ``table_e1_1.csv``."""
        return self.name.lower()

    @property
    def cli_name(self) -> str:
        """The option as the command line spells it, e.g. ``retain-uids``."""
        return self.name.lower().replace("_", "-")


_CODES = {
    OptionValues.CLEAN_GRAPHICS: "113103",
    OptionValues.CLEAN_STRUCTURED_CONTENT: "113104",
    OptionValues.CLEAN_DESCRIPTORS: "113105",
    OptionValues.RETAIN_LONGITUDINAL_FULL_DATES: "113106",
    OptionValues.RETAIN_LONGITUDINAL_MODIFIED_DATES: "113107",
    OptionValues.RETAIN_PATIENT_CHARACTERISTICS: "113108",
    OptionValues.RETAIN_DEVICE_IDENTITY: "113109",
    OptionValues.RETAIN_UIDS: "113110",
    OptionValues.RETAIN_SAFE_PRIVATE: "113111",
    OptionValues.RETAIN_INSTITUTION_IDENTITY: "113112",
}

#: CID 7050 code of the profile itself.
BASIC_PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")

# When several chosen options give an action for one attribute, the one that keeps
# most wins: K over C (e.g. Retain Device Identity K and Modified Dates C on a calibration date).
_PRECEDENCE = {ActionValues.K: 0, ActionValues.C: 1}


@dataclasses.dataclass(frozen=True)
class ProfileRow:
    """One row of Table E.1-1."""

    tag: str
    name: str
    keyword: str
    basic: ActionValues
    options: dict[OptionValues, ActionValues]

    def action(self, options: frozenset[OptionValues] = frozenset()) -> ActionValues:
        """The action for this attribute once *options* are applied to the Basic Profile."""
        chosen = [self.options[o] for o in options if o in self.options]
        if not chosen:
            return self.basic
        return min(chosen, key=lambda a: _PRECEDENCE.get(a, 9))


@dataclasses.dataclass(frozen=True)
class ProfileTable:
    """Table E.1-1, indexed for lookup.

    Attributes
    ----------
    rows : dict of int to ProfileRow
        Rows of single attributes, by tag as an int.
    repeating : dict of str to ProfileRow
        ``"50xx,xxxx"`` (curves), ``"60xx,3000"`` and ``"60xx,4000"`` (overlays).
    private : ProfileRow
        The row of private attributes.
    edition : str
        The provenance lines of the data file.
    """

    rows: dict[int, ProfileRow]
    repeating: dict[str, ProfileRow]
    private: ProfileRow
    edition: str

    def row_for(self, tag: int) -> ProfileRow | None:
        """The row that governs *tag* (a private, repeating-group or single attribute), if any."""
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2:
            return self.private
        if tag in self.rows:
            return self.rows[tag]
        if group & 0xFF00 == 0x5000:
            return self.repeating["50xx,xxxx"]
        if group & 0xFF00 == 0x6000 and element in (0x3000, 0x4000):
            return self.repeating[f"60xx,{element:04x}"]
        return None

    def __len__(self) -> int:
        return len(self.rows) + len(self.repeating) + 1


@functools.lru_cache(maxsize=1)
def load_table(path: str | Path | None = None) -> ProfileTable:
    """Read Table E.1-1 from ``table_e1_1.csv``.

    Returns
    -------
    ProfileTable
    """
    text = Path(path or TABLE_PATH).read_text(encoding="utf-8")
    comments = [line[2:] for line in text.splitlines() if line.startswith("#")]
    reader = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    rows: dict[int, ProfileRow] = {}
    repeating: dict[str, ProfileRow] = {}
    private: ProfileRow | None = None
    for record in reader:
        row = ProfileRow(
            tag=record["tag"],
            name=record["name"],
            keyword=record["keyword"],
            basic=ActionValues(record["basic_profile"]),
            options={o: ActionValues(record[o.column]) for o in OptionValues if record[o.column]},
        )
        match = re.fullmatch(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)", row.tag)
        if match:
            rows[int(match[1] + match[2], 16)] = row
        elif row.tag.startswith("(gggg"):
            private = row
        else:
            repeating[row.tag.strip("()")] = row
    if private is None:
        raise ValueError(f"{path or TABLE_PATH} has no row for private attributes.")
    return ProfileTable(rows=rows, repeating=repeating, private=private, edition="\n".join(comments))
