"""The custody timeline of a lot: who held it when, what was seen at each handover.

Built from ledger entries elsewhere; here only the shapes the responsibility rules read.
Every fact carries the ledger reference (index + leaf hash) it came from, so a verdict can
cite exactly what it rests on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from claims.coldchain import Reading
from ledger.capture import Party

__all__ = ["ROLES", "LedgerRef", "Observation", "Party", "Segment", "Timeline"]

ROLES = frozenset({"supplier", "warehouse", "carrier", "customer", "retailer"})


@dataclass(frozen=True)
class LedgerRef:
    """Where a fact lives in the ledger."""

    index: int
    leaf_hash: str

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"index": self.index, "leaf_hash": self.leaf_hash}


@dataclass(frozen=True)
class Segment:
    """One custodian's possession of the lot, from a handover to the next (end None: open)."""

    custodian: Party
    start: datetime
    end: datetime | None
    readings: tuple[Reading, ...] = ()
    refs: tuple[LedgerRef, ...] = ()

    @property
    def in_transport(self) -> bool:
        """Carriers get the profile's transport tolerance."""
        return self.custodian.role == "carrier"

    def covers(self, start: datetime, end: datetime) -> bool:
        """True if this segment overlaps the half-open window (start, end]."""
        return self.start < end and (self.end is None or self.end > start)


@dataclass(frozen=True)
class Observation:
    """What someone saw of the goods' condition at a moment.

    ``kind`` is ``inspection`` (a handover inspection), ``delivery`` (proof-of-delivery photo)
    or ``claim_photo`` (the customer's). ``defects`` holds vision labels; empty means clean.
    """

    time: datetime
    kind: str
    defects: frozenset[str] = frozenset()
    ref: LedgerRef | None = None
    by: Party | None = None

    @property
    def clean(self) -> bool:
        """No defect seen."""
        return not self.defects


@dataclass(frozen=True)
class Timeline:
    """A lot's custody segments and observations, each sorted by time."""

    lot: str
    segments: tuple[Segment, ...]
    observations: tuple[Observation, ...] = ()
    shelf_life_end: datetime | None = None
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(sorted(self.segments, key=lambda s: s.start)))
        object.__setattr__(
            self, "observations", tuple(sorted(self.observations, key=lambda o: o.time))
        )
