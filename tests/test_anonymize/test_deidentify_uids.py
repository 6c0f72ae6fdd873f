"""Pseudonymizer: keyed, project-scoped UIDs, pseudonyms and date shifts."""

from __future__ import annotations

import re

import pytest

from pacslab.anonymize import Pseudonymizer


def test_uids_are_valid_consistent_and_scoped():
    a, b = Pseudonymizer("p", b"k"), Pseudonymizer("q", b"k")
    uid = a.uid("1.2.826.0.1.3680043.8.498.1")
    assert re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", uid) and len(uid) <= 64
    assert uid == Pseudonymizer("p", b"k").uid("1.2.826.0.1.3680043.8.498.1")
    assert uid != b.uid("1.2.826.0.1.3680043.8.498.1")
    assert uid != Pseudonymizer("p", b"other").uid("1.2.826.0.1.3680043.8.498.1")
    assert a.uid("1.2.840.10008.1.2.1") == "1.2.840.10008.1.2.1"  # defined by the standard


def test_pseudonyms_fit_their_vr_and_are_recorded():
    seen = []
    p = Pseudonymizer("p", "k", recorder=lambda *args: seen.append(args))
    pid, name = p.patient_id("12345"), p.patient_name("Doe^Jane", "12345")
    assert len(pid) <= 16 and pid.isalnum() and pid != "12345"
    assert name.startswith("ANON^") and len(name) <= 64
    assert p.date_shift("12345") == p.date_shift("12345") and p.date_shift("12345").days < 0
    assert [kind for kind, *_ in seen][:3] == ["PatientID", "PatientName", "date-shift"]


def test_an_empty_secret_is_refused():
    with pytest.raises(ValueError, match="secret"):
        Pseudonymizer("p", b"")
