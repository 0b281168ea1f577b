"""How much of a lot was delivered, from the quantities its handover records carry.

A lot's delivered quantity is the ``quantityList`` amount naming the lot on its latest
``receiving`` event that gives one (the last custodian took in that much), else on its
latest ``shipping`` event: the handover closest to the shop's customers. Inspections,
returns and readings say nothing about how much was delivered and are not read. A lot whose
handovers carry no amount (or no records at all) has no delivered quantity: callers say so
rather than guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ledger.log import Ledger
from supplychain.epcis import lot as lot_of
from supplychain.projections import event_lots, events

__all__ = ["HANDOVER_STEPS", "LotQuantity", "delivered_quantities"]

HANDOVER_STEPS = ("receiving", "shipping")
"""Business steps whose quantities count as delivered, the preferred first."""


@dataclass(frozen=True)
class LotQuantity:
    """A lot's delivered quantity, with the handover record it comes from."""

    lot: str
    quantity: float
    uom: str | None
    biz_step: str
    ledger_index: int


def _amount(raw: Mapping[str, Any], lot: str) -> tuple[float, str | None] | None:
    """The summed amount of ``lot`` in the event's quantityList, or None if it names none."""
    total, uom, found = 0.0, None, False
    for q in raw.get("quantityList") or ():
        if not isinstance(q, Mapping):
            continue
        cls, amount = q.get("epcClass"), q.get("quantity")
        if not isinstance(cls, str) or (cls != lot and lot_of(cls) != lot):
            continue
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            continue
        total, found = total + float(amount), True
        uom = q.get("uom") if isinstance(q.get("uom"), str) else uom
    return (total, uom) if found else None


def delivered_quantities(*, ledger: Ledger, lots: Iterable[str]) -> dict[str, LotQuantity]:
    """Each lot's delivered quantity; a lot with none on record is absent from the answer."""
    wanted = sorted(set(lots))
    if not wanted:
        return {}
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(event_lots.c.lot, events.c.biz_step, events.c.ledger_idx)
            .join(events, events.c.hash_id == event_lots.c.hash_id)
            .where(event_lots.c.lot.in_(wanted), events.c.biz_step.in_(HANDOVER_STEPS))
            # Latest first: the first amount found per lot and step is the one kept.
            .order_by(events.c.event_time.desc(), events.c.ledger_idx.desc())
        ).all()
    best: dict[str, LotQuantity] = {}
    for step in HANDOVER_STEPS:
        for row in rows:
            if row.biz_step != step or row.lot in best:
                continue
            raw = ledger.entry(row.ledger_idx).body.get("event") or {}
            if (found := _amount(raw, row.lot)) is not None:
                best[row.lot] = LotQuantity(row.lot, found[0], found[1], step, row.ledger_idx)
    return best
