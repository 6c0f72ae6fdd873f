"""How ``table_e1_1.csv`` was made (a maintainer's script; not imported by pacslab).

Neither the script nor its inputs are needed at run time: the CSV is the table.
It merges two independent transcriptions of DICOM PS3.15 Table E.1-1, both
fetched from PyPI with ``pip download --no-deps`` and unpacked under /tmp/tbl:

- dicom-anonymizer 2.1.0, ``dicomanonymizer/dicom_anonymization_databases/dicomfields_2026c.py``
  (Basic Profile column of PS3.15 2026c, as lists of tags per action);
- idiscore 1.6.0, ``idiscore/_public_dicom.py`` (every column, scraped from the
  standard's "current" chapter E page on 2025-06-24)
  (read with a regular expression; idiscore is not imported).

Run with pydicom installed: ``python pacslab/anonymize/_table_source.py``.
"""

# ruff: noqa
# mypy: ignore-errors
import csv, json, re, importlib.util, io
from pydicom.datadict import dictionary_description, keyword_for_tag

_CODES = {
    "DUMMY": "D",
    "EMPTY": "Z",
    "REMOVE": "X",
    "KEEP": "K",
    "CLEAN": "C",
    "UID": "U",
    "EMPTY_OR_DUMMY": "Z/D",
    "REMOVE_OR_EMPTY": "X/Z",
    "REMOVE_OR_DUMMY": "X/D",
    "REMOVE_OR_EMPTY_OR_DUMMY": "X/Z/D",
    "REMOVE_OR_EMPTY_OR_UID": "X/Z/U*",
}
_SRC = open("/tmp/tbl/idi16/idiscore/_public_dicom.py").read()
_BLOCKS = re.split(r"\n(\w+) = RawNemaRuleSet\(", _SRC)
_PAT = re.compile(
    r'\(\s*(SingleTag\("([0-9a-fx]{8})"\)|RepeatingGroup\("([0-9a-fx]{8})"\)|PrivateTags\(\)),'
    r"\s*ActionCodes\.(\w+),?\s*\),?\s*#\s*([^\n]*)"
)
ID = {}
for _name, _body in zip(_BLOCKS[1::2], _BLOCKS[2::2]):
    ID[_name] = {}
    for _m in _PAT.finditer(_body):
        _tag = _m.group(2) or _m.group(3) or "private"
        ID[_name][_tag.upper() if _tag != "private" else _tag] = (_CODES[_m.group(4)], _m.group(5).strip())
spec = importlib.util.spec_from_file_location(
    "f", "/tmp/tbl/dicom_anonymizer/dicomanonymizer/dicom_anonymization_databases/dicomfields_2026c.py"
)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
src = open("/tmp/tbl/dicom_anonymizer/dicomanonymizer/dicom_anonymization_databases/dicomfields_2026c.py").read()
comments = {}
for g, e, c in re.findall(r"\(0x([0-9A-Fa-f]{4}), 0x([0-9A-Fa-f]{4})\),\s*#\s*([^\n]*)", src):
    comments[(g + e).upper()] = c.strip()
basic = {}
cats = [
    ("D_TAGS", "D"),
    ("Z_TAGS", "Z"),
    ("X_TAGS", "X"),
    ("U_TAGS", "U"),
    ("Z_D_TAGS", "Z/D"),
    ("X_Z_TAGS", "X/Z"),
    ("X_D_TAGS", "X/D"),
    ("X_Z_D_TAGS", "X/Z/D"),
    ("X_Z_U_STAR_TAGS", "X/Z/U*"),
]
for cat, code in cats:
    for t in getattr(m, cat):
        if len(t) == 2:
            basic[f"({t[0]:04X},{t[1]:04X})"] = code
        else:
            key = {
                (0x5000, 0, 0xFF00, 0): "(50xx,xxxx)",
                (0x6000, 0x3000, 0xFF00, 0xFFFF): "(60xx,3000)",
                (0x6000, 0x4000, 0xFF00, 0xFFFF): "(60xx,4000)",
            }[t]
            basic[key] = code
basic["(gggg,eeee) odd gggg"] = "X"


def key_of(k):
    if k == "private":
        return "(gggg,eeee) odd gggg"
    k = k.upper()
    if "X" in k:
        return f"({k[:4].lower()},{k[4:].lower()})"
    return f"({k[:4]},{k[4:]})"


cols = [
    ("retain_safe_private", None),
    ("retain_uids", "retain_uid"),
    ("retain_device_identity", "retain_device_id"),
    ("retain_institution_identity", "retain_institution_id"),
    ("retain_patient_characteristics", "retain_patient_characteristics"),
    ("retain_longitudinal_full_dates", "retain_full_dates"),
    ("retain_longitudinal_modified_dates", "retain_modified_dates"),
    ("clean_descriptors", "clean_descriptors"),
    ("clean_structured_content", "clean_structured_content"),
    ("clean_graphics", "clean_graphics"),
]
opt = {c: {key_of(k): v[0] for k, v in ID[s].items()} if s else {} for c, s in cols}
opt["retain_safe_private"]["(gggg,eeee) odd gggg"] = "C"
ib = {key_of(k): v[0] for k, v in ID["basic_profile"].items()}
for k in opt:
    extra = set(opt[k]) - set(basic)
    assert not extra, (k, extra)
agree = sum(1 for k in ib if k in basic and ib[k] == basic[k])
dis = [k for k in ib if k in basic and ib[k] != basic[k]]
new = sorted(set(basic) - set(ib))
print("rows", len(basic), "agree", agree, "disagree", dis, "new in 2026c", new)
out = io.StringIO()
out.write("# DICOM PS3.15 Table E.1-1 Application Level Confidentiality Profile Attributes.\n")
out.write("# basic_profile column: PS3.15 2026c, transcribed by dicom-anonymizer 2.1.0 (dicomfields_2026c.py).\n")
out.write(
    f"# Option columns: PS3.15 'current' edition scraped 2025-06-24 (2025b), transcribed by idiscore 1.6.0 (_public_dicom.py);\n"
)
out.write(f"#   both transcriptions agree on the basic_profile action of all {agree} rows they share; rows marked\n")
out.write("#   'options_unverified' are new after 2025b: their option columns are empty (the basic action applies).\n")
out.write(
    "# An empty option cell means the option does not change the basic action. Built by pacslab/anonymize/_table_source.py.\n"
)
w = csv.writer(out, lineterminator="\n")
w.writerow(["tag", "name", "keyword", "basic_profile"] + [c for c, _ in cols] + ["note"])


def sort_key(k):
    return k.replace("x", "0").replace("g", "z")


for k in sorted(basic, key=sort_key):
    if re.fullmatch(r"\([0-9A-F]{4},[0-9A-F]{4}\)", k):
        t = int(k[1:5] + k[6:10], 16)
        try:
            name = dictionary_description(t)
            kw = keyword_for_tag(t)
        except KeyError:
            name = comments.get(k[1:5] + k[6:10], "")
            kw = ""
    else:
        name = {
            "(50xx,xxxx)": "Curve Data",
            "(60xx,3000)": "Overlay Data",
            "(60xx,4000)": "Overlay Comments",
            "(gggg,eeee) odd gggg": "Private Attributes",
        }[k]
        kw = ""
    note = "options_unverified" if k in new and k not in ("(50xx,xxxx)", "(60xx,3000)", "(60xx,4000)") else ""
    w.writerow([k, name, kw, basic[k]] + [opt[c].get(k, "") for c, _ in cols] + [note])
open("/work/main/pacslab/anonymize/table_e1_1.csv", "w").write(out.getvalue())
