"""pynetdicom alone, with handlers that do nothing: the floor of any DICOM server built on it.

Run by ``benchmarks/dimse.py`` as ``python benchmarks/_bare_scp.py PORT``. The AE accepts what
pacslab's accepts, with pacslab's socket and reactor settings (TCP_NODELAY, the DUL loop delay,
pacslab's message encoding), so its figures are what pacslab's DIMSE layer costs before any
archive work:

* C-STORE: answers Success at once and keeps nothing;
* C-FIND (Study Root): answers one fixed match, then Success.

It prints ``ready`` once listening and runs until terminated.
"""

from __future__ import annotations

import signal
import sys

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification

from pacslab.dimse import _raw
from pacslab.dimse._raw import set_nodelay
from pacslab.dimse.scp import STORAGE_SOP_CLASSES


def _store(event: evt.Event) -> int:
    return 0x0000


def _find(event: evt.Event):  # noqa: ANN202 - pynetdicom's generator protocol
    match = Dataset()
    match.QueryRetrieveLevel = "STUDY"
    match.StudyInstanceUID = event.identifier.get("StudyInstanceUID", "") or "1.2.3"
    match.PatientName = "BARE^FLOOR"
    match.PatientID = "FLOOR"
    match.StudyDate = "20240101"
    match.ModalitiesInStudy = "CT"
    match.NumberOfStudyRelatedInstances = 1
    yield 0xFF00, match
    yield 0x0000, None


def main() -> None:
    _raw.install()
    ae = AE(ae_title="BARE")
    ae.maximum_associations = 16
    ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES[:3])
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind, _raw.UNCOMPRESSED)
    for uid in STORAGE_SOP_CLASSES:
        ae.add_supported_context(uid, _raw.STORAGE_TRANSFER_SYNTAXES)
    handlers = [(evt.EVT_CONN_OPEN, set_nodelay), (evt.EVT_C_STORE, _store), (evt.EVT_C_FIND, _find)]
    ae.start_server(("127.0.0.1", int(sys.argv[1])), block=False, evt_handlers=handlers)
    print("ready", flush=True)
    signal.pause()  # until terminated


if __name__ == "__main__":
    main()
