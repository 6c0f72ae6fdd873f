"""What an ingest did: counts, and every rejected input with its reason."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["IngestReport"]


@dataclasses.dataclass
class IngestReport:
    """The outcome of :meth:`pacslab.Archive.ingest`.

    Attributes
    ----------
    new, duplicate, conflict : int
        Instances added; received again with the same bytes (nothing added); received
        again with other bytes under the same SOPInstanceUID (kept aside as a conflict,
        see :meth:`pacslab.Archive.conflicts`).
    rejected : list of (str, str)
        ``(source, reason)`` of every input that was not archived; each file was copied
        to the archive's ``quarantine/`` folder.
    quarantined : list of str
        Where the rejected files were copied.
    skipped : list of str
        Inputs deliberately passed over (DICOMDIR).
    volumes_built : int
        Series whose volumes were (re)built.
    no_volume : list of (str, str)
        ``(SeriesInstanceUID, reason)`` of image series left without a volume.
    bytes_in : int
        Bytes read.
    seconds : float
        Wall time.
    """

    new: int = 0
    duplicate: int = 0
    conflict: int = 0
    rejected: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    quarantined: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    volumes_built: int = 0
    no_volume: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    bytes_in: int = 0
    seconds: float = 0.0

    @property
    def n_rejected(self) -> int:
        """How many inputs were rejected."""
        return len(self.rejected)

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return not self.rejected

    @property
    def files(self) -> int:
        """Inputs looked at."""
        return self.new + self.duplicate + self.conflict + self.n_rejected

    def merge(self, other: IngestReport) -> None:
        """Add *other*'s counts to this report."""
        for f in dataclasses.fields(self):
            value = getattr(other, f.name)
            setattr(self, f.name, getattr(self, f.name) + value)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        d = dataclasses.asdict(self)
        d["rejected"] = [{"source": s, "reason": r} for s, r in self.rejected]
        d["no_volume"] = [{"SeriesInstanceUID": s, "reason": r} for s, r in self.no_volume]
        return d

    def summary(self) -> str:
        """One line for people."""
        rate = self.files / self.seconds if self.seconds else 0.0
        text = (
            f"{self.new} new, {self.duplicate} duplicate, {self.conflict} conflict, {self.n_rejected} rejected; "
            f"{self.volumes_built} series volumes built in {self.seconds:.1f} s ({rate:.0f} files/s)"
        )
        if self.no_volume:
            text += f"; {len(self.no_volume)} image series without a volume"
        return text

    def __repr__(self) -> str:
        return f"<IngestReport {self.summary()}>"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{s}</td><td>{r}</td></tr>" for s, r in self.rejected[:20])
        more = f"<p>… and {self.n_rejected - 20} more</p>" if self.n_rejected > 20 else ""
        table = f"<table><tr><th>rejected</th><th>reason</th></tr>{rows}</table>{more}" if rows else ""
        return f"<p><b>Ingest</b>: {self.summary()}</p>{table}"
