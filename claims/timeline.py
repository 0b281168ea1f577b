"""Build a lot's custody timeline from the ledger: segments, readings and observations.

Custody is derived by ``supplychain.custody.custody`` (the same rule the lot's trace shows); a
handover inspection (CBV ``inspecting``) with a disposition is an observation of condition.
The customer's segment starts at the claimed delivery time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from claims.coldchain import Aggregate, Reading
from claims.segments import (
    NOBODY,
    Capture,
    CitedShock,
    LedgerRef,
    Observation,
    Party,
    RecordedUseBy,
    Segment,
    Timeline,
)
from ledger.log import Ledger
from supplychain.capture import get_party
from supplychain.custody import Handover, LotEvent, custody, lot_events
from supplychain.lot_names import lots_named

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


# Parties' clocks drift: a receipt inspection may be stamped a little before the receipt.
_CLOCK_SLACK = timedelta(minutes=5)


def build_timeline(
    *, ledger: Ledger, lot: str, delivered_at: datetime, customer: Party
) -> Timeline:
    """The lot's custody from the log, closed by the customer's delivery.

    Custody comes from ``supplychain.custody.custody``, the rule the lot's trace shows too.
    Raises ``UnknownLotError`` when the ledger holds no event of the lot, and
    ``AmbiguousLotError`` for a bare lot number several products' lots share.
    """
    with ledger.engine.connect() as conn:
        keys = lots_named(conn, lot)
    found = lot_events(ledger=ledger, lot=keys)
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
    readings.sort(key=lambda rr: rr[0].time)
    shocks = [
        CitedShock(x.time, x.mps2, LedgerRef(e.index, e.leaf_hash)) for e in found for x in e.shocks
    ]
    # Aggregate reports (min/max/mean over a period) are no samples: each goes, whole, to
    # the holders whose span its period falls in (GUIDE §4 rule 5).
    spans = [
        (h.since, delivered_at if i + 1 == len(chain) else chain[i + 1].since)
        for i, h in enumerate(chain)
    ]
    held_aggregates: list[list[tuple[Aggregate, LedgerRef]]] = [[] for _ in chain]
    for e in found:
        for a in e.aggregates:
            for i in _holders_of(a.start, a.end, spans):
                held_aggregates[i].append(
                    (
                        Aggregate(a.start, a.end, a.min_celsius, a.max_celsius, a.mean_celsius),
                        LedgerRef(e.index, e.leaf_hash),
                    )
                )
    segments = []
    for i, h in enumerate(chain):
        last = i + 1 == len(chain)
        end = delivered_at if last else chain[i + 1].since
        summaries = sorted(held_aggregates[i], key=lambda ar: ar[0].start)
        # The events of the holder's span; the last holder's also those after the delivery.
        refs = [LedgerRef(h.index, h.leaf_hash)] + [
            LedgerRef(e.index, e.leaf_hash)
            for e in found
            if e.time >= h.since and (last or e.time < end) and e.index != h.index
        ]
        mine = [(r, ref) for r, ref in readings if h.since <= r.time < end]
        seg_refs = tuple(
            dict.fromkeys([*refs, *(ref for _, ref in mine), *(ref for _, ref in summaries)])
        )
        segments.append(
            Segment(
                (party(h.holder) if h.holder else None) or NOBODY,
                h.since,
                end,
                tuple(r for r, _ in mine),
                seg_refs,
                tuple(ref for _, ref in mine),
                tuple(x for x in shocks if h.since <= x.time < end),
                tuple(a for a, _ in summaries),
                tuple(ref for _, ref in summaries),
            )
        )
    if segments:
        segments.append(Segment(customer, delivered_at, None))
    # Returned items are graded one by one after delivery; those grades say nothing about
    # how the lot was handed over (GUIDE §4 rule 4), so they are kept apart.
    handovers = [e for e in found if not _returned_item(e, delivered_at)]
    observations = [
        o for e in handovers if (o := _observation(e, party, handovers, chain)) is not None
    ]
    returns = [
        o
        for e in found
        if _returned_item(e, delivered_at) and (o := _returned(e, party)) is not None
    ]
    unregistered = sorted({s.custodian.id for s in segments if s.custodian.role == "unregistered"})
    return Timeline(
        lot,
        tuple(segments),
        tuple(observations),
        meta={"unregistered": unregistered},
        returns=tuple(returns),
        captures={
            e.index: Capture(
                e.captured_at,
                e.time,
                LedgerRef(e.index, e.leaf_hash),
                e.captured_for,
                tuple(p for p in (e.source, e.destination) if p),
            )
            for e in found
            if e.captured_at is not None
        },
        use_by=tuple(
            RecordedUseBy(e.use_by, LedgerRef(e.index, e.leaf_hash), e.captured_for)
            for e in found
            if e.use_by is not None
        ),
    )


def _holders_of(
    start: datetime, end: datetime, spans: Sequence[tuple[datetime, datetime]]
) -> list[int]:
    """The spans an aggregate's period ``start``..``end`` falls in, by index.

    Those it overlaps by more than the clocks' slack (a period that spans a handover is every
    holder's it spans); else the one it overlaps most; a period of one moment, the span
    holding that moment. None when it lies outside them all (after the delivery, say).
    """
    overlaps = [(i, min(end, b) - max(start, a)) for i, (a, b) in enumerate(spans)]
    wide = [i for i, o in overlaps if o > _CLOCK_SLACK]
    if wide:
        return wide
    best = max(overlaps, key=lambda io: io[1], default=None)
    if best is not None and best[1] > timedelta(0):
        return [best[0]]
    return [i for i, (a, b) in enumerate(spans) if a <= start < b][:1]


def _returned_item(e: LotEvent, delivered_at: datetime) -> bool:
    """A grade of a returned item: a station's, or any inspection of single items made
    after the goods were delivered."""
    if not e.inspection:
        return False
    return e.station is not None or (e.item_level and e.time >= delivered_at - _CLOCK_SLACK)


def _returned(e: LotEvent, party: Callable[[str | None], Party | None]) -> Observation | None:
    """A returned item's grade, read as evidence about that item only."""
    defects = _defects(e)
    if defects is None:
        return None
    return Observation(
        e.time,
        "return",
        frozenset(defects),
        LedgerRef(e.index, e.leaf_hash),
        party(e.source) or party(e.destination),
        confidence=e.grade_confidence if e.grade_confidence is not None else 1.0,
    )


def _defects(e: LotEvent) -> set[str] | None:
    """The defects an inspection's disposition records (empty: clean; None: unreadable)."""
    if not (e.inspection and e.disposition):
        return None
    if e.disposition in DEFECT_DISPOSITIONS:
        return {DEFECT_DISPOSITIONS[e.disposition]}
    return set() if e.disposition in CLEAN_DISPOSITIONS else None


def _receipt(
    e: LotEvent, found: Sequence[LotEvent], chain: Sequence[Handover]
) -> tuple[timedelta, Handover, Handover] | None:
    """For an inspection: the holder's receipt it is the first inspection after, the handover
    that made the holder, and the one before (who delivered)."""
    current = [h for h in chain if h.since <= e.time + _CLOCK_SLACK]
    if len(current) < 2 or current[-1].holder is None:
        return None
    taken, before = current[-1], current[-2]
    received = [
        r
        for r in found
        if r.biz_step == "receiving"
        and r.destination in (None, taken.holder)
        and taken.since - _CLOCK_SLACK <= r.time <= e.time + _CLOCK_SLACK
    ]
    if not received:
        return None
    receipt = received[-1]
    # Only the first inspection after the receipt records the condition on arrival.
    if any(
        x.inspection and x.index != e.index and receipt.time - _CLOCK_SLACK <= x.time < e.time
        for x in found
    ):
        return None
    return max(e.time - receipt.time, timedelta(0)), taken, before


def _dispatch(
    e: LotEvent, found: Sequence[LotEvent], chain: Sequence[Handover]
) -> tuple[timedelta, datetime] | None:
    """For an inspection: the shipment by the holder that follows it, and when custody passed."""
    current = [h for h in chain if h.since <= e.time]
    if not current or current[-1].holder is None:
        return None
    holder = current[-1].holder
    later = [h for h in chain if h.since > e.time]
    if not later:
        return None
    shipped = [
        s
        for s in found
        if s.biz_step == "shipping"
        and s.source in (None, holder)
        and e.time - _CLOCK_SLACK <= s.time <= later[0].since + _CLOCK_SLACK
    ]
    if not shipped:
        return None
    return max(shipped[0].time - e.time, timedelta(0)), later[0].since


def _observation(
    e: LotEvent,
    party: Callable[[str | None], Party | None],
    found: Sequence[LotEvent],
    chain: Sequence[Handover],
) -> Observation | None:
    """A handover inspection with a disposition we can read as clean or as a defect."""
    defects = _defects(e)
    if defects is None:
        return None
    src, dst = party(e.source), party(e.destination)
    kind = "delivery" if dst and dst.role == "customer" else "inspection"
    receipt = _receipt(e, found, chain)
    dispatch = _dispatch(e, found, chain)
    return Observation(
        e.time,
        kind,
        frozenset(defects),
        LedgerRef(e.index, e.leaf_hash),
        src or dst,
        since_receipt=receipt[0] if receipt else None,
        taken_over=receipt[1].since if receipt else None,
        delivered_by=(party(receipt[2].holder) or NOBODY) if receipt else None,
        until_dispatch=dispatch[0] if dispatch else None,
        handed_over=dispatch[1] if dispatch else None,
    )
