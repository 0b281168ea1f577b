"""A lot's trace: its events in time order with custody, temperatures and inspections.

Read from the log itself (through the event index), so every line carries the ledger
index and leaf hash a reader can ask a proof for.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ledger.errors import LedgerError
from ledger.log import Ledger
from ledger.projections import event_lots, events, parties

__all__ = ["UnknownLotError", "lot_trace"]


class UnknownLotError(LedgerError):
    """No captured event names this lot."""

    def __init__(self, lot: str) -> None:
        self.lot = lot
        super().__init__(f"no events are recorded for lot {lot!r}")


def lot_trace(*, ledger: Ledger, lot: str) -> dict[str, Any]:
    """The lot's events (oldest first) and the custody chain they imply."""
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(events.c.ledger_idx, events.c.hash_id)
            .join(event_lots, event_lots.c.hash_id == events.c.hash_id)
            .where(event_lots.c.lot == lot)
            .order_by(events.c.event_time, events.c.ledger_idx)
        ).all()
        registry = {r.id: r for r in conn.execute(select(parties))}
    if not rows:
        raise UnknownLotError(lot)

    def party(pid: str | None) -> dict[str, Any] | None:
        if pid is None:
            return None
        r = registry.get(pid)
        return {"id": pid, "role": r.role if r else None, "name": r.name if r else None}

    out, custody = [], []
    holder: dict[str, Any] | None = None
    for idx, _ in rows:
        entry = ledger.entry(idx)
        view = entry.body["view"]
        src = next((i for t, i in view["sources"] if t == "possessing_party"), None)
        dst = next((i for t, i in view["destinations"] if t == "possessing_party"), None)
        item = {
            "ledger_index": entry.index,
            "leaf_hash": entry.leaf_hash.hex(),
            "hash_id": entry.body["hash_id"],
            "event_type": view["event_type"],
            "event_time": view["event_time"],
            "biz_step": view["biz_step"],
            "disposition": view["disposition"],
            "read_point": view["read_point"],
            "inspection": view["biz_step"] == "inspecting",
            "custody": {"from": party(src), "to": party(dst)} if src or dst else None,
            "temperatures": view["temperatures"],
        }
        out.append(item)
        # Custody changes hands on receipt: the destination's possessing party holds the goods.
        new_holder = party(dst) if view["biz_step"] == "receiving" else None
        if holder is None and src:
            holder = party(src)
            custody.append(
                {**(holder or {}), "since": view["event_time"], "ledger_index": entry.index}
            )
        if new_holder and (holder is None or new_holder["id"] != holder["id"]):
            holder = new_holder
            custody.append({**new_holder, "since": view["event_time"], "ledger_index": entry.index})
    return {
        "lot": lot,
        "events": out,
        "custody": custody,
        "temperature_readings": sum(len(e["temperatures"]) for e in out),
    }
