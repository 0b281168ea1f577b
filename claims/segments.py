"""The custody timeline claims read: who held a lot when, what was seen at each handover.

Built from ledger entries elsewhere; here only the shapes the responsibility rules read.
Every fact carries the ledger reference (index + leaf hash) it came from, so a verdict can
cite exactly what it rests on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from claims.coldchain import Aggregate, Reading
from supplychain.capture import PARTY_ROLES, Party

__all__ = [
    "NOBODY",
    "ROLES",
    "Capture",
    "CitedShock",
    "LedgerRef",
    "Observation",
    "Party",
    "RecordedUseBy",
    "Segment",
    "Timeline",
]

ROLES = frozenset(PARTY_ROLES)
# The holder of a stretch in which the lot was shipped without a named receiver.
NOBODY = Party("(nobody on record)", "unrecorded", "nobody on record")


@dataclass(frozen=True)
class LedgerRef:
    """Where a fact lives in the ledger."""

    index: int
    leaf_hash: str

    def as_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"index": self.index, "leaf_hash": self.leaf_hash}


@dataclass(frozen=True)
class CitedShock:
    """An acceleration reading (m/s²) and the entry that carried it."""

    time: datetime
    mps2: float
    ref: LedgerRef


@dataclass(frozen=True)
class Segment:
    """One custodian's possession of the lot, from a handover to the next (end None: open).

    ``reading_refs[i]`` is the entry that carried ``readings[i]``; ``refs`` are all the
    entries of the segment (its handover first). ``aggregates`` are loggers' min/max/mean
    reports whose period falls in the segment, ``aggregate_refs[i]`` the entry of
    ``aggregates[i]`` (GUIDE §4 rule 5: never samples, so apart from ``readings``).
    """

    custodian: Party
    start: datetime
    end: datetime | None
    readings: tuple[Reading, ...] = ()
    refs: tuple[LedgerRef, ...] = ()
    reading_refs: tuple[LedgerRef, ...] = ()
    shocks: tuple[CitedShock, ...] = ()
    aggregates: tuple[Aggregate, ...] = ()
    aggregate_refs: tuple[LedgerRef, ...] = ()

    @property
    def recorded(self) -> bool:
        """Somebody is on record holding the goods."""
        return self.custodian is not NOBODY and self.custodian.role != "unrecorded"

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

    ``kind`` is ``inspection`` (a handover inspection), ``delivery`` (proof-of-delivery photo),
    ``claim_photo`` (the customer's) or ``return`` (a returned item graded, never a handover). ``defects`` holds vision labels; empty means clean.
    ``since_receipt`` is how long after the holder's ``receiving`` event the inspection was
    made, with ``taken_over`` the moment that holder took the goods from ``delivered_by``:
    the rules read an inspection soon after receipt as the condition on arrival. Likewise
    ``until_dispatch``: how long before the holder shipped the goods on (custody passing at
    ``handed_over``); an inspection just before dispatch is the condition at dispatch.
    """

    time: datetime
    kind: str
    defects: frozenset[str] = frozenset()
    ref: LedgerRef | None = None
    by: Party | None = None
    since_receipt: timedelta | None = None
    taken_over: datetime | None = None
    delivered_by: Party | None = None
    until_dispatch: timedelta | None = None
    handed_over: datetime | None = None
    # How sure whoever recorded it was (a person 1.0; a station's model its confidence).
    confidence: float = 1.0

    @property
    def clean(self) -> bool:
        """No defect seen."""
        return not self.defects


@dataclass(frozen=True)
class Capture:
    """When the ledger captured a record, and the parties its capturer speaks for.

    ``named`` are the parties the record itself names (handing over, taking over); ``time``
    is the moment the record speaks for (its event time).
    """

    at: datetime
    time: datetime
    ref: LedgerRef
    parties: tuple[str, ...] = ()
    named: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordedUseBy:
    """The lot's use-by date as one of its records states it (the event's ILMD), the entry
    that holds it, and the parties its capturer speaks for."""

    date: date
    ref: LedgerRef
    by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Timeline:
    """A lot's custody segments and observations, each sorted by time.

    ``observations`` are records of the lot at handovers and delivery; ``returns`` are
    inspections of single returned items (station grades, checks after delivery): evidence
    about those items, never a record of a handover (GUIDE §4 rule 4). ``captures`` says, per
    ledger index, when each record was captured and for whom (rule 6).
    """

    lot: str
    segments: tuple[Segment, ...]
    observations: tuple[Observation, ...] = ()
    meta: dict[str, object] = field(default_factory=dict)
    returns: tuple[Observation, ...] = ()
    captures: Mapping[int, Capture] = field(default_factory=dict)
    # The lot's use-by dates as its records state them, one per record that states one.
    use_by: tuple[RecordedUseBy, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(sorted(self.segments, key=lambda s: s.start)))
        for name in ("observations", "returns"):
            object.__setattr__(self, name, tuple(sorted(getattr(self, name), key=lambda o: o.time)))

    def without(self, indices: frozenset[int]) -> Timeline:
        """The same timeline as if the records at ``indices`` had never been captured.

        Readings, shocks and observations carried by those entries drop out; custody (who
        held the goods) stays as recorded.
        """

        def keep(ref: LedgerRef | None) -> bool:
            return ref is None or ref.index not in indices

        segments = []
        for s in self.segments:
            pairs = [
                (r, ref) for r, ref in zip(s.readings, s.reading_refs, strict=False) if keep(ref)
            ]
            segments.append(
                replace(
                    s,
                    readings=tuple(r for r, _ in pairs),
                    reading_refs=tuple(ref for _, ref in pairs),
                    shocks=tuple(x for x in s.shocks if keep(x.ref)),
                    **_kept_aggregates(s, keep),
                )
            )
        return replace(
            self,
            segments=tuple(segments),
            observations=tuple(o for o in self.observations if keep(o.ref)),
            returns=tuple(o for o in self.returns if keep(o.ref)),
            captures={i: c for i, c in self.captures.items() if i not in indices},
            use_by=tuple(u for u in self.use_by if keep(u.ref)),
        )


def _kept_aggregates(s: Segment, keep: Callable[[LedgerRef], bool]) -> dict[str, Any]:
    """The segment's aggregate reports whose entries ``keep`` keeps, for ``replace``."""
    pairs = [(a, ref) for a, ref in zip(s.aggregates, s.aggregate_refs, strict=False) if keep(ref)]
    return {
        "aggregates": tuple(a for a, _ in pairs),
        "aggregate_refs": tuple(ref for _, ref in pairs),
    }
