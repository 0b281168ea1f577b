"""Build a lot's custody timeline from the ledger: segments, readings and observations.

Custody is derived by ``ledger.custody.custody`` (the same rule the lot's trace shows); a
handover inspection (CBV ``inspecting``) with a disposition is an observation of condition.
The customer's segment starts at the claimed delivery time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from claims.coldchain import Reading
from claims.custody import LedgerRef, Observation, Party, Segment, Timeline
from ledger.capture import get_party
from ledger.custody import LotEvent, custody, lot_events
from ledger.log import Ledger

__all__ = ["CLEAN_DISPOSITIONS", "DEFECT_DISPOSITIONS", "build_timeline"]

# CBV 2.0 dispositions an inspector records for goods in good condition...
CLEAN_DISPOSITIONS = frozenset(
    {
        "sellable_accessible",
        "sellable_not_accessible",
        "conformant",
        "active",
        "available",
        "in_transit",
        "in_progress",
    }
)
# ...and for goods found defective, with the defect they evidence.
DEFECT_DISPOSITIONS = {
    "damaged": "package_damage",
    "non_conformant": "spoilage",
    "expired": "spoilage",
    "destroyed": "spoilage",
}


def build_timeline(
    *, ledger: Ledger, lot: str, delivered_at: datetime, customer: Party
) -> Timeline:
    """The lot's custody from the log, closed by the customer's delivery.

    Custody comes from ``ledger.custody.custody``, the rule the lot's trace shows too.
    Raises ``UnknownLotError`` when the ledger holds no event of the lot.
    """
    found = lot_events(ledger=ledger, lot=lot)
    chain = custody(found, until=delivered_at)
    known: dict[str, Party] = {}

    def party(pid: str | None) -> Party | None:
        if pid is None:
            return None
        if pid not in known:
            known[pid] = get_party(ledger.engine, pid) or Party(pid, "unregistered")
        return known[pid]

    readings = [
        (Reading(r.time, r.celsius), LedgerRef(e.index, e.leaf_hash))
        for e in found
        for r in e.readings
    ]
    observations = [o for e in found if (o := _observation(e, party)) is not None]
    segments = []
    for i, h in enumerate(chain):
        last = i + 1 == len(chain)
        end = delivered_at if last else chain[i + 1].since
        # The events of the holder's span; the last holder's also those after the delivery.
        refs = [LedgerRef(h.index, h.leaf_hash)] + [
            LedgerRef(e.index, e.leaf_hash)
            for e in found
            if e.time >= h.since and (last or e.time < end) and e.index != h.index
        ]
        mine = [(r, ref) for r, ref in readings if h.since <= r.time < end]
        seg_refs = tuple(dict.fromkeys([*refs, *(ref for _, ref in mine)]))
        segments.append(
            Segment(party(h.holder), h.since, end, tuple(r for r, _ in mine), seg_refs)  # type: ignore[arg-type]
        )
    if segments:
        segments.append(Segment(customer, delivered_at, None))
    unregistered = sorted({s.custodian.id for s in segments if s.custodian.role == "unregistered"})
    return Timeline(lot, tuple(segments), tuple(observations), meta={"unregistered": unregistered})


def _observation(e: LotEvent, party: Callable[[str | None], Party | None]) -> Observation | None:
    """A handover inspection with a disposition we can read as clean or as a defect."""
    if not (e.inspection and e.disposition):
        return None
    if e.disposition not in CLEAN_DISPOSITIONS and e.disposition not in DEFECT_DISPOSITIONS:
        return None
    defects = (
        {DEFECT_DISPOSITIONS[e.disposition]} if e.disposition in DEFECT_DISPOSITIONS else set()
    )
    src, dst = party(e.source), party(e.destination)
    kind = "delivery" if dst and dst.role == "customer" else "inspection"
    return Observation(
        e.time, kind, frozenset(defects), LedgerRef(e.index, e.leaf_hash), src or dst
    )
