"""A lot's trace: its events in time order with custody, temperatures and inspections.

Read from the log itself (through the event index), so every line carries the ledger
index and leaf hash a reader can ask a proof for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ledger.custody import LotEvent, UnknownLotError, custody, lot_events
from ledger.log import Ledger
from ledger.projections import parties

__all__ = ["UnknownLotError", "lot_trace"]


def _t(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def lot_trace(*, ledger: Ledger, lot: str) -> dict[str, Any]:
    """The lot's events (oldest first) and the custody chain they imply, as JSON."""
    found = lot_events(ledger=ledger, lot=lot)
    with ledger.engine.connect() as conn:
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
                {
                    "time": _t(r.time),
                    "celsius": r.celsius,
                    "value": r.value,
                    "uom": r.uom,
                    "device_id": r.device_id,
                }
                for r in e.readings
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
        "temperature_readings": sum(len(e.readings) for e in found),
    }
