"""The hand-built days of ``test_dashboard`` (see its docstring), seeded into any database.

Times are offsets from ``now``; with ``NOW`` they are the dates the tests work by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, insert

from claims.compensation import payments
from claims.lot_keys import fill_lot_keys
from claims.tables import claim_decisions, claims, ticket_events
from ledger.log import Ledger
from supplychain.capture import capture_events
from supplychain.epcis import parse_document
from supplychain.epcis.build import ObjectEvent, Quantity, epcis_document

__all__ = ["NOW", "OTHER_GTIN", "at", "seed_days", "seed_lot_names"]

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
GTIN = "urn:epc:class:lgtin:4012345.012345."
OTHER_GTIN = "urn:epc:class:lgtin:4098765.054321."
"""Another company's product, whose lots may carry the same numbers as ``GTIN``'s."""
SLA = {  # priority: (first response, resolution)
    "P0": (timedelta(minutes=30), timedelta(hours=2)),
    "P1": (timedelta(hours=4), timedelta(hours=24)),
    "P3": (timedelta(hours=48), timedelta(days=7)),
}
ROUTES = {"P0": "quality+legal", "P1": "logistics", "P3": "customer_care"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time of the hand-built days (December 2026, UTC)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def _claim(
    engine: Engine,
    cid: str,
    filed: datetime,
    category: str,
    lot: str,
    defect: str | None,
    priority: str,
    machine_party: str,
) -> None:
    first, resolution = SLA[priority]
    verdict = {
        "responsible_party": machine_party,
        "party_id": None,
        "confidence": 0.9,
        "reasons": [],
        "evidence": [{"defect": defect, "source": "photo"}] if defect else [],
    }
    ticket = {
        "priority": priority,
        "route": ROUTES[priority],
        "first_response_due": (filed + first).isoformat(),
        "resolution_due": (filed + resolution).isoformat(),
        "reasons": [],
    }
    with engine.begin() as conn:
        conn.execute(
            insert(claims).values(
                id=cid, request_hash="0" * 64, order_id=f"o-{cid}", customer_id="cust-1",
                lot=lot, category=category, line_value=Decimal("12.50"), currency="EUR",
                delivered_at=filed - timedelta(hours=2), status="open",
                defective=int(defect is not None), responsible_party=machine_party,
                party_id=None, confidence=0.9, verdict=json.dumps(verdict),
                ticket=json.dumps(ticket), compensation=json.dumps({"kind": "refund"}),
                evidence_idx=0, verdict_idx=0, created_at=filed,
            )
        )  # fmt: skip


def _move(engine: Engine, cid: str, when: datetime, action: str, src: str, dst: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(ticket_events).values(
                claim_id=cid, at=when, action=action, from_state=src, to_state=dst,
                actor="adj", note="", ledger_idx=0,
            )
        )  # fmt: skip


def _decide(engine: Engine, cid: str, when: datetime, party: str) -> None:
    body = {
        "claim_id": cid,
        "actor": "adj",
        "responsible_party": party,
        "party_id": None,
        "reason": "checked",
        "compensation": {"decision": "approve", "paid": True},
        "decided_at": when.isoformat(),
    }
    with engine.begin() as conn:
        conn.execute(
            insert(claim_decisions).values(
                claim_id=cid, actor="adj", body=json.dumps(body), ledger_idx=0, created_at=when
            )
        )


def _pay(engine: Engine, cid: str, amount: str, by: str, when: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(payments).values(
                claim_id=cid, kind="refund", amount=Decimal(amount), voucher=Decimal("0.00"),
                currency="EUR", decided_by=by, paid_at=when,
            )
        )  # fmt: skip


def _handover(
    ledger: Ledger, lot: str, when: datetime, step: str, amount: float, gtin: str = GTIN
) -> None:
    event = ObjectEvent(
        event_time=when, biz_step=step, quantities=(Quantity(gtin + lot, amount, "EA"),)
    ).to_json()
    doc = epcis_document([event], creation_date=when + timedelta(minutes=1))
    capture_events(ledger=ledger, events_in=parse_document(doc))


def seed_days(engine: Engine, ledger: Ledger, now: datetime = NOW) -> None:
    """The claims, tickets, payments and handovers of the hand-built days, ending at ``now``."""

    def t(day: int, hour: int, minute: int = 0) -> datetime:
        return now + (at(day, hour, minute) - NOW)

    _handover(ledger, "STRAW-1", t(1, 6), "shipping", 120)
    _handover(ledger, "STRAW-1", t(1, 9), "receiving", 100)
    _handover(ledger, "STRAW-2", t(1, 9), "receiving", 400)
    _handover(ledger, "BEEF-7", t(3, 6), "shipping", 50)
    _claim(engine, "c1", t(5, 8), "chilled_produce", "STRAW-1", "mold", "P0", "supplier")
    _move(engine, "c1", t(5, 8, 20), "acknowledge", "new", "acknowledged")
    _decide(engine, "c1", t(5, 9, 30), "carrier")
    _pay(engine, "c1", "12.50", "adj", t(5, 9, 30))
    _move(engine, "c1", t(5, 9, 30), "resolve", "acknowledged", "resolved")
    _claim(engine, "c2", t(5, 6), "chilled_produce", "STRAW-1", "spoilage", "P1", "carrier")
    _pay(engine, "c2", "8.00", "auto", t(5, 6))
    _claim(engine, "c3", t(4, 10), "chilled", "BEEF-7", "swelling", "P0", "supplier")
    _move(engine, "c3", t(4, 10, 10), "wait_on_customer", "new", "waiting_on_customer")
    _move(engine, "c3", t(4, 12, 10), "resume", "waiting_on_customer", "acknowledged")
    _move(engine, "c3", t(4, 13, 30), "resolve", "acknowledged", "resolved")
    _claim(engine, "c4", t(3, 9), "ambient_produce", "APPLE-3", None, "P3", "undetermined")
    _decide(engine, "c4", t(5, 11), "customer")
    _move(engine, "c4", t(5, 11), "resolve", "new", "resolved")
    _claim(engine, "c5", t(1, 12), "chilled_produce", "STRAW-1", "spoilage", "P1", "carrier")
    _claim(engine, "c6", t(2, 6), "chilled_produce", "STRAW-2", "spoilage", "P1", "carrier")


def seed_lot_names(engine: Engine, ledger: Ledger, now: datetime = NOW) -> None:
    """Claims on lots by their several names, keyed as filing keys them (``claims.lot_keys``).

    PEAR-9 (``GTIN``'s; 200 received, recorded by its LGTIN URN) is claimed today by the
    pack's Digital Link on a shop's host (n1), by its URN (n2) and by its bare number (n3).
    L1 is the lot number of two companies' lots (``GTIN``'s received 300, ``OTHER_GTIN``'s
    received 500): claimed by the first's URN (n4), by the second's Digital Link (n5) and by
    the bare number twice (n6, n7), which names neither.
    """
    _handover(ledger, "PEAR-9", now - timedelta(days=2), "receiving", 200)
    _handover(ledger, "L1", now - timedelta(days=2), "receiving", 300)
    _handover(ledger, "L1", now - timedelta(days=2), "receiving", 500, gtin=OTHER_GTIN)
    filed = {
        "n1": "https://shop.example.com/01/04012345123456/10/PEAR-9",
        "n2": GTIN + "PEAR-9",
        "n3": "PEAR-9",
        "n4": GTIN + "L1",
        "n5": "https://id.gs1.org/01/04098765543210/10/L1",
        "n6": "L1",
        "n7": "L1",
    }
    for n, (cid, lot) in enumerate(filed.items()):
        when = now - timedelta(hours=6 - n)
        _claim(engine, cid, when, "chilled_produce", lot, "spoilage", "P1", "carrier")
    with engine.begin() as conn:
        fill_lot_keys(conn, list(filed))
