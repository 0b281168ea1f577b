"""Build a lot's custody timeline from the ledger: segments, readings and observations.

Custody passes when an event's possessing-party destination differs from the holder; a
handover inspection (CBV ``inspecting``) with a disposition is an observation of condition.
The customer's segment starts at the claimed delivery time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from claims.coldchain import Reading
from claims.custody import LedgerRef, Observation, Party, Segment, Timeline
from ledger.log import Ledger
from ledger.trace import lot_trace

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


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _party(p: dict[str, Any] | None) -> Party | None:
    if not p:
        return None
    return Party(p["id"], p.get("role") or "unregistered", p.get("name") or "")


def build_timeline(
    *, ledger: Ledger, lot: str, delivered_at: datetime, customer: Party
) -> Timeline:
    """The lot's custody from the log, closed by the customer's delivery."""
    trace = lot_trace(ledger=ledger, lot=lot)
    opened: list[tuple[Party, datetime, list[LedgerRef]]] = []
    readings: list[tuple[Reading, LedgerRef]] = []
    observations: list[Observation] = []
    for e in trace["events"]:
        ref = LedgerRef(e["ledger_index"], e["leaf_hash"])
        at = _time(e["event_time"])
        custody = e["custody"] or {}
        src, dst = _party(custody.get("from")), _party(custody.get("to"))
        if not opened and (src or dst):
            opened.append((src or dst, at, [ref]))  # type: ignore[arg-type]
        if dst and opened and dst.id != opened[-1][0].id and at < delivered_at:
            opened.append((dst, at, [ref]))
        elif opened:
            opened[-1][2].append(ref)
        readings += [
            (Reading(_time(t["time"]), float(t["celsius"])), ref) for t in e["temperatures"]
        ]
        if e["inspection"] and e["disposition"]:
            disposition = e["disposition"]
            if disposition in CLEAN_DISPOSITIONS or disposition in DEFECT_DISPOSITIONS:
                defects = (
                    {DEFECT_DISPOSITIONS[disposition]}
                    if disposition in DEFECT_DISPOSITIONS
                    else set()
                )
                kind = "delivery" if dst and dst.role == "customer" else "inspection"
                observations.append(Observation(at, kind, frozenset(defects), ref, src or dst))
    segments = []
    for i, (party, start, refs) in enumerate(opened):
        end = opened[i + 1][1] if i + 1 < len(opened) else delivered_at
        mine = [(r, ref) for r, ref in readings if start <= r.time < end]
        seg_refs = tuple(dict.fromkeys([*refs, *(ref for _, ref in mine)]))
        segments.append(Segment(party, start, end, tuple(r for r, _ in mine), seg_refs))
    if segments:
        segments.append(Segment(customer, delivered_at, None))
    unregistered = sorted({s.custodian.id for s in segments if s.custodian.role == "unregistered"})
    return Timeline(lot, tuple(segments), tuple(observations), meta={"unregistered": unregistered})
