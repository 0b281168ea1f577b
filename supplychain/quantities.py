"""How much of a lot was delivered, from the quantities its handover records carry.

A lot's delivered quantity is the ``quantityList`` amount naming the lot on its latest
``receiving`` event that gives one (the last custodian took in that much), else on its
latest ``shipping`` event: the handover closest to the shop's customers. Inspections,
returns and readings say nothing about how much was delivered and are not read. A lot whose
handovers carry no amount (or no records at all) has no delivered quantity: callers say so
rather than guess.

A lot is read under every key ``supplychain.lot_names.lots_named`` gives for the name asked
by (a lot named by the pack's Digital Link finds the handovers its parties recorded by the
LGTIN URN) and answered under that name. A bare number several companies' lots share names
no one lot: it has no delivered quantity (which company's lot it was is a person's call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from ledger.log import Ledger
from supplychain.epcis import lot as lot_of
from supplychain.lot_names import AmbiguousLotError, lots_named
from supplychain.projections import event_lots, events

__all__ = ["HANDOVER_STEPS", "LotQuantity", "delivered_quantities"]

HANDOVER_STEPS = ("receiving", "shipping")
"""Business steps whose quantities count as delivered, the preferred first."""


@dataclass(frozen=True)
class LotQuantity:
    """A lot's delivered quantity, with the handover record it comes from; ``lot`` is the
    name it was asked by."""

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


def _names_by_key(conn: Connection, names: Sequence[str]) -> dict[str, list[str]]:
    """Each key the lots ``names`` are read under, with the names it answers for (a
    shared bare number answers for none)."""
    out: dict[str, list[str]] = {}
    for name in names:
        try:
            keys = lots_named(conn, name)
        except AmbiguousLotError:
            continue
        for key in keys:
            out.setdefault(key, []).append(name)
    return out


def delivered_quantities(*, ledger: Ledger, lots: Iterable[str]) -> dict[str, LotQuantity]:
    """Each lot's delivered quantity, under the name asked by; a lot with none on record
    (or a bare number of several lots) is absent from the answer."""
    wanted = sorted(set(lots))
    if not wanted:
        return {}
    with ledger.engine.connect() as conn:
        names = _names_by_key(conn, wanted)
        if not names:
            return {}
        rows = conn.execute(
            select(event_lots.c.lot, events.c.biz_step, events.c.ledger_idx)
            .join(events, events.c.hash_id == event_lots.c.hash_id)
            .where(event_lots.c.lot.in_(sorted(names)), events.c.biz_step.in_(HANDOVER_STEPS))
            # Latest first: the first amount found per lot and step is the one kept.
            .order_by(events.c.event_time.desc(), events.c.ledger_idx.desc())
        ).all()
    best: dict[str, LotQuantity] = {}
    for step in HANDOVER_STEPS:
        for row in rows:
            asked = [n for n in names[row.lot] if n not in best]
            if row.biz_step != step or not asked:
                continue
            raw = ledger.entry(row.ledger_idx).body.get("event") or {}
            # The amount is read under the key the record was filed by, not the name asked.
            if (found := _amount(raw, row.lot)) is not None:
                for name in asked:
                    best[name] = LotQuantity(name, found[0], found[1], step, row.ledger_idx)
    return best
