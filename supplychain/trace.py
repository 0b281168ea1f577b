"""A lot's trace: its events in time order with custody, temperatures and inspections.

Each temperature says its ``kind``: a ``point`` reading, or an ``aggregate`` report
(min/max/mean over a period) with all its numbers and the period.

Read from the log itself (through the event index), so every line carries the ledger
index and leaf hash a reader can ask a proof for.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from ledger.log import Ledger
from supplychain.custody import AggregateReading, LotEvent, UnknownLotError, custody, lot_events
from supplychain.lot_names import lots_named
from supplychain.projections import event_lots, parties
from supplychain.query.scope import Scope, check_took_part

__all__ = ["UnknownLotError", "lot_class_of", "lot_classes_of", "lot_trace"]


def _t(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _aggregate(a: AggregateReading) -> dict[str, Any]:
    """An aggregate report: all its numbers and the period they summarise (GUIDE §4 rule 5).

    ``celsius`` is the summary a point reading would have shown (the mean where given), kept
    so a client that reads only ``celsius`` sees what it saw before; ``kind`` says it is no
    temperature at ``time``.
    """
    summary = next(
        (v for v in (a.mean_celsius, a.max_celsius, a.min_celsius) if v is not None), None
    )
    return {
        "kind": "aggregate",
        "time": _t(a.time),
        "celsius": summary,
        "min_celsius": a.min_celsius,
        "max_celsius": a.max_celsius,
        "mean_celsius": a.mean_celsius,
        "period": {"start": _t(a.start), "end": _t(a.end)},
        "values": dict(a.values),
        "uom": a.uom,
        "device_id": a.device_id,
    }


def lot_trace(
    *, ledger: Ledger, lot: str, speaks_for: Collection[str] | None = None
) -> dict[str, Any]:
    """The lot's events (oldest first) and the custody chain they imply, as JSON.

    With ``speaks_for`` (a supply-chain key's parties) only a lot one of them took part in
    (``supplychain.query.scope.check_took_part``, as the EPCIS query and the FSMA export):
    ``NotYourLotError`` otherwise. A trace is a lot's whole history, temperatures and
    custodians included: a trading partner's business, not any key holder's.
    """
    scope = None if speaks_for is None else Scope.of_parties(speaks_for)
    with ledger.engine.connect() as conn:
        # A bare lot number two companies share: the caller's lot, or AmbiguousLotError.
        keys = lots_named(conn, lot, scope=scope)
    found = lot_events(ledger=ledger, lot=keys)  # UnknownLotError first
    with ledger.engine.connect() as conn:
        if scope is not None:
            check_took_part(conn, lot=keys, scope=scope)
        registry = {r.id: r for r in conn.execute(select(parties))}

    def party(pid: str | None) -> dict[str, Any] | None:
        if pid is None:
            return None
        r = registry.get(pid)
        return {"id": pid, "role": r.role if r else None, "name": r.name if r else None}

    def event(e: LotEvent) -> dict[str, Any]:
        moved = e.source or e.destination
        return {
            "ledger_index": e.index,
            "leaf_hash": e.leaf_hash,
            "hash_id": e.hash_id,
            "event_type": e.event_type,
            "event_time": _t(e.time),
            "biz_step": e.biz_step,
            "disposition": e.disposition,
            "read_point": e.read_point,
            "inspection": e.inspection,
            "custody": {"from": party(e.source), "to": party(e.destination)} if moved else None,
            "temperatures": [
                *(
                    {
                        "kind": "point",
                        "time": _t(r.time),
                        "celsius": r.celsius,
                        "value": r.value,
                        "uom": r.uom,
                        "device_id": r.device_id,
                    }
                    for r in e.readings
                ),
                *(_aggregate(a) for a in e.aggregates),
            ],
        }

    out = [event(e) for e in found]
    return {
        "lot": lot,
        "events": out,
        "custody": [
            {
                **(party(h.holder) or {"id": None, "role": None, "name": None}),
                "since": _t(h.since),
                "ledger_index": h.index,
            }
            for h in custody(found)
        ],
        # Points and aggregates alike (an aggregate counted as one reading before it was kept).
        "temperature_readings": sum(len(e.readings) + len(e.aggregates) for e in found),
        "temperature_aggregates": sum(len(e.aggregates) for e in found),
    }


def lot_class_of(engine: Engine, uri: str) -> str | None:
    """The lot class (an LGTIN) an earlier event filed this EPC under, if the log knows one."""
    with engine.connect() as conn:
        hashes = select(event_lots.c.hash_id).where(event_lots.c.lot == uri)
        keys = conn.execute(
            select(event_lots.c.lot).where(event_lots.c.hash_id.in_(hashes))
        ).scalars()
        return next((k for k in sorted(set(keys)) if k.startswith("urn:epc:class:lgtin:")), None)


def lot_classes_of(engine: Engine, uris: Iterable[str]) -> dict[str, str | None]:
    """``lot_class_of`` for many EPCs in one query per 500 (a station's batch looks up all
    its items at once instead of one round trip each)."""
    wanted = sorted(set(uris))
    named: dict[str, set[str]] = {uri: set() for uri in wanted}
    item, lot = event_lots.alias("item"), event_lots.alias("lot")
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            rows = conn.execute(
                select(item.c.lot, lot.c.lot)
                .join(lot, lot.c.hash_id == item.c.hash_id)
                .where(item.c.lot.in_(wanted[start : start + 500]))
            ).all()
            for uri, key in rows:
                named[uri].add(key)
    return {
        uri: next((k for k in sorted(keys) if k.startswith("urn:epc:class:lgtin:")), None)
        for uri, keys in named.items()
    }
